import * as ort from 'onnxruntime-node';
import type { Device } from './Decoder.js';

/**
 * The one place specstream creates ONNX Runtime sessions and runs them.
 *
 * - Execution provider `cpu` or `webgpu`; a WebGPU request without a GPU adapter fails with an
 *   error that says so and what to do, not a Dawn assertion.
 * - Before every run the feeds are checked against the session's declared inputs
 *   (`session.inputMetadata`): missing, unexpected, wrong element type or rank — all problems
 *   are reported at once, naming the inputs, so nothing crashes deep inside ONNX Runtime.
 * - `gpuOutputs` names outputs that stay on the GPU (`preferredOutputLocation: 'gpu-buffer'`,
 *   WebGPU only); every other output comes back to the CPU.
 */
export interface SessionOptions {
  readonly device: Device;
  /** Outputs to keep on the device (WebGPU); ignored on CPU. */
  readonly gpuOutputs?: readonly string[];
  /** For error messages: the model file or a description. */
  readonly source?: string;
  /**
   * Threads of the session's intra-op pool (ONNX Runtime's default: one per core). A small
   * model that alternates with a large one (a draft model) runs best with 1: its pool's
   * spinning threads otherwise steal the cores the large model's pool needs right after.
   */
  readonly intraOpNumThreads?: number;
  /**
   * Whether the intra-op pool's threads spin waiting for work (ONNX Runtime's default: yes).
   * False lets a multi-threaded draft session sleep between its runs instead of taking the
   * cores its target needs next (`intra_op.allow_spinning = 0`).
   */
  readonly intraOpSpinning?: boolean;
}

/** A session's intra-op thread settings (a decoder passes them on to its k-step draft sessions). */
export type ThreadOptions = Pick<SessionOptions, 'intraOpNumThreads' | 'intraOpSpinning'>;

export class WebGpuUnavailableError extends Error {
  constructor(cause: string) {
    super(
      `--device webgpu: ONNX Runtime found no WebGPU adapter on this machine (${cause.split('\n')[0]}). ` +
        'WebGPU needs a GPU and a Vulkan driver and the Vulkan loader (see docs/gpu.md); use --device cpu here.',
    );
    this.name = 'WebGpuUnavailableError';
  }
}

export class FeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeedError';
  }
}

export class CheckedSession {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly device: Device,
    readonly source: string,
  ) {}

  /**
   * Creates a session from a file path or model bytes.
   * 1. Maps `device` to execution providers (webgpu keeps cpu as fallback for unsupported ops).
   * 2. Sets `preferredOutputLocation` for `gpuOutputs` on webgpu.
   * 3. Translates "no adapter" and "not a model" failures into actionable errors.
   */
  static async create(model: string | Uint8Array, opts: SessionOptions): Promise<CheckedSession> {
    const source = opts.source ?? (typeof model === 'string' ? model : '<in-memory model>');
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: opts.device === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'],
      graphOptimizationLevel: 'all',
      ...(opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
      ...(opts.intraOpSpinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    };
    if (opts.device === 'webgpu' && opts.gpuOutputs && opts.gpuOutputs.length > 0) {
      options.preferredOutputLocation = Object.fromEntries(opts.gpuOutputs.map((n) => [n, 'gpu-buffer' as const]));
    }
    let session: ort.InferenceSession;
    try {
      session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, options)
          : await ort.InferenceSession.create(model, options);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/WebGPU adapter|No supported adapters/i.test(msg)) throw new WebGpuUnavailableError(msg);
      if (/protobuf parsing failed|Load model .* failed|Failed to load model/i.test(msg)) {
        throw new Error(`${source}: not a valid ONNX model (ONNX Runtime: ${msg.split('\n')[0]})`);
      }
      throw new Error(`${source}: ONNX Runtime could not create a session on ${opts.device}: ${msg}`);
    }
    return new CheckedSession(session, opts.device, source);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Declared tensor metadata of an input, or undefined. */
  inputMeta(name: string): ort.InferenceSession.TensorValueMetadata | undefined {
    const m = this.session.inputMetadata.find((x) => x.name === name);
    return m && m.isTensor ? m : undefined;
  }

  /** Throws a FeedError listing every missing/unexpected/mistyped feed. */
  checkFeeds(feeds: Readonly<Record<string, ort.Tensor>>): void {
    const problems: string[] = [];
    for (const meta of this.session.inputMetadata) {
      const t = feeds[meta.name];
      if (!t) {
        problems.push(`missing input "${meta.name}"${meta.isTensor ? ` (${meta.type} [${meta.shape.join(', ')}])` : ''}`);
        continue;
      }
      if (!meta.isTensor) continue;
      if (t.type !== meta.type) problems.push(`input "${meta.name}" has type ${t.type}, the model declares ${meta.type}`);
      if (meta.shape.length > 0 && t.dims.length !== meta.shape.length) {
        problems.push(`input "${meta.name}" has shape [${t.dims.join(', ')}], the model declares rank ${meta.shape.length} [${meta.shape.join(', ')}]`);
      } else {
        meta.shape.forEach((d, i) => {
          if (typeof d === 'number' && t.dims[i] !== d) problems.push(`input "${meta.name}" dim ${i} is ${t.dims[i]}, the model declares ${d}`);
        });
      }
    }
    const declared = new Set(this.session.inputNames);
    for (const name of Object.keys(feeds)) if (!declared.has(name)) problems.push(`unexpected input "${name}"`);
    if (problems.length > 0) {
      throw new FeedError(`${this.source}: feeds do not match the model's inputs (${this.session.inputNames.join(', ')}):\n  - ${problems.join('\n  - ')}`);
    }
  }

  /** Checks feeds, then runs; errors from ONNX Runtime are rethrown with the model's name. */
  async run(feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
    this.checkFeeds(feeds);
    try {
      return await this.session.run(feeds);
    } catch (err) {
      const shapes = Object.entries(feeds).map(([k, t]) => `${k}[${t.dims.join(',')}]`).join(' ');
      throw new Error(`${this.source}: ONNX Runtime run failed on ${this.device} with feeds ${shapes}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
