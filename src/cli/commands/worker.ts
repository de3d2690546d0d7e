import { InvalidArgumentError, type Command } from 'commander';
import { runGenerationWorker } from '../../streams/pipeline/generationWorker.js';

const msArg = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError(`${name}: expected a positive number of milliseconds, received "${v}"`);
  return Number(v);
};
const deviceArg = (v: string): 'cpu' | 'webgpu' => {
  if (v !== 'cpu' && v !== 'webgpu') throw new InvalidArgumentError(`expected cpu or webgpu, received "${v}"`);
  return v;
};

/** `specstream worker`: a generation worker of a run on Kafka (consumer group `<run>.generation`). */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('generate rollouts for a run on Kafka (train with generation=workers): consume requests, speculative decoding, produce results exactly once')
    .requiredOption('--brokers <host:port,…>', 'Kafka bootstrap brokers')
    .requiredOption('--run <prefix>', "the run's topic prefix, <topicPrefix>.<runId> (as in kafka://…/<prefix> that `specstream train` prints)")
    .option('--device <device>', "cpu | webgpu (default: the run config's model.device)", deviceArg)
    .option('--id <id>', 'worker id: source of its events and part of its transactional id (keep it stable across restarts)', `gen-${process.pid}`)
    .option('--session-timeout <ms>', 'consumer-group session timeout: a dead worker\'s partitions move after this', msArg('--session-timeout'))
    .option('--heartbeat-interval <ms>', 'consumer-group heartbeat interval', msArg('--heartbeat-interval'))
    .option('--rebalance-timeout <ms>', 'how long a rebalance waits for members to rejoin', msArg('--rebalance-timeout'))
    .option('--transaction-timeout <ms>', 'broker aborts a transaction left open this long (a worker that died mid-commit)', msArg('--transaction-timeout'))
    .option('--hold-first-transaction <ms>', 'fault drill: keep the first transaction open this long before committing (kill the worker meanwhile)', msArg('--hold-first-transaction'))
    .action(
      async (opts: {
        brokers: string;
        run: string;
        device?: 'cpu' | 'webgpu';
        id: string;
        sessionTimeout?: number;
        heartbeatInterval?: number;
        rebalanceTimeout?: number;
        transactionTimeout?: number;
        holdFirstTransaction?: number;
      }) => {
        if (!/^[A-Za-z0-9._-]+$/.test(opts.id)) throw new InvalidArgumentError(`--id: letters, digits, ".", "_" and "-" only, received "${opts.id}"`);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const say = (line: string) => process.stderr.write(`specstream worker ${opts.id}: ${line}\n`);
        try {
          const summary = await runGenerationWorker({
            brokers: opts.brokers.split(',').map((b) => b.trim()).filter(Boolean),
            prefix: opts.run,
            id: opts.id,
            onProgress: say,
            signal: stop.signal,
            ...(opts.device ? { device: opts.device } : {}),
            ...(opts.sessionTimeout ? { sessionTimeout: opts.sessionTimeout } : {}),
            ...(opts.heartbeatInterval ? { heartbeatInterval: opts.heartbeatInterval } : {}),
            ...(opts.rebalanceTimeout ? { rebalanceTimeout: opts.rebalanceTimeout } : {}),
            ...(opts.transactionTimeout ? { transactionTimeout: opts.transactionTimeout } : {}),
            ...(opts.holdFirstTransaction ? { holdFirstTransactionMs: opts.holdFirstTransaction } : {}),
          });
          process.stdout.write(`${JSON.stringify({ worker: opts.id, ...summary })}\n`);
        } catch (err) {
          if (stop.signal.aborted) say('stopped; uncommitted work goes to the partitions\' next owner');
          else throw err;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
    );
}
