import ort from 'onnxruntime-node';
const orig = ort.InferenceSession.create.bind(ort.InferenceSession);
const extraCfg = JSON.parse(process.env.EXTRA ?? '{}');
ort.InferenceSession.create = (m, o = {}) => orig(m, { ...o, ...(process.env.THREADS ? { intraOpNumThreads: Number(process.env.THREADS) } : {}), extra: { ...(o.extra ?? {}), ...extraCfg } });
await import('../scripts/experiments/verify-cost.mjs');
