import ort from 'onnxruntime-node';
const orig = ort.InferenceSession.create.bind(ort.InferenceSession);
const o2 = JSON.parse(process.env.OPTS ?? '{}');
ort.InferenceSession.create = (m, o = {}) => orig(m, { ...o, ...o2 });
await import('./engine-fwd.mjs');
