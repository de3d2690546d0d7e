import ort from 'onnxruntime-node';
import { GraphBuilder, attr } from '../dist/gpu/graph/ir.js';
import { serializeModel } from '../dist/gpu/graph/serialize.js';
const H = 512, I = 1408, L = +(process.env.L ?? 16);
const rnd = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = (Math.random() - 0.5) * 0.1; return a; };
function build(kind, bits = 8) {
  const g = new GraphBuilder('q');
  let x = g.input('x', 'float32', [1, 'T', H]);
  const mm = (x, K, N, name) => {
    const w = rnd(K * N);
    if (kind === 'fp32') return g.op1('MatMul', [x, g.initializer(name, 'float32', [K, N], w)]);
    if (kind === 'dq') {
      const q = new Uint8Array(K * N); for (let i = 0; i < q.length; i++) q[i] = Math.max(0, Math.min(255, Math.round(w[i] / 0.0004) + 128));
      return g.op1('DynamicQuantizeMatMul', [x, g.initializer(name, 'uint8', [K, N], q), g.initializer(name + '.s', 'float32', [1], new Float32Array([0.0004])), g.initializer(name + '.z', 'uint8', [1], new Uint8Array([128]))], {}, 'com.microsoft');
    }
    if (kind === 'mi' || kind === 'mis') {
      const S = kind === 'mis';
      // per-column symmetric int8 weights (stored as uint8 + zero point 128 for now), per-row symmetric activations
      const q = new Uint8Array(K * N); for (let i = 0; i < q.length; i++) q[i] = Math.max(0, Math.min(255, Math.round(w[i] / 0.0004) + 128));
      const x2 = g.op1('Reshape', [x, g.initializer(name + '.shp', 'int64', [2], new BigInt64Array([-1n, BigInt(K)]))]);
      const amax = g.op1('ReduceMax', [g.op1('Abs', [x2])], { axes: attr.ints([1]), keepdims: attr.int(1) }); // [M,1]
      const s = g.op1('Max', [g.op1('Mul', [amax, g.initializer(name+'.inv', 'float32', [], new Float32Array([1/127]))]), g.initializer(name+'.eps','float32',[],new Float32Array([1e-30]))]);
      const r = g.op1('Add', [g.op1('Round', [g.op1('Div', [x2, s])]), g.initializer(name+'.128','float32',[],new Float32Array([128]))]);
      const qa = g.op1('Cast', [r], { to: attr.int(2) });
      const qs = new Int8Array(K * N); for (let i = 0; i < q.length; i++) qs[i] = Math.max(-127, Math.min(127, Math.round(w[i] / 0.0004)));
      const acc = S ? g.op1('MatMulInteger', [qa, g.initializer(name, 'int8', [K, N], qs), g.initializer(name + '.az', 'uint8', [], new Uint8Array([128]))])
        : g.op1('MatMulInteger', [qa, g.initializer(name, 'uint8', [K, N], q), g.initializer(name + '.az', 'uint8', [], new Uint8Array([128])), g.initializer(name + '.z', 'uint8', [], new Uint8Array([128]))]);
      const y = g.op1('Mul', [g.op1('Mul', [g.op1('Cast', [acc], { to: attr.int(1) }), s]), g.initializer(name+'.cs','float32',[N], new Float32Array(N).fill(0.0004))]);
      return g.op1('Reshape', [y, g.initializer(name + '.shp2', 'int64', [3], new BigInt64Array([1n, -1n, BigInt(N)]))]);
    }
    // MatMulNBits: B [N, nBlocks, blob], scales [N*nBlocks]
    const bs = 32, nb = Math.ceil(K / bs), blob = bs * bits / 8;
    const B = new Uint8Array(N * nb * blob); for (let i = 0; i < B.length; i++) B[i] = Math.floor(Math.random() * 256);
    const sc = new Float32Array(N * nb).fill(0.001);
    return g.op1('MatMulNBits', [x, g.initializer(name, 'uint8', [N, nb, blob], B), g.initializer(name + '.s', 'float32', [N * nb], sc)],
      { K: attr.int(K), N: attr.int(N), bits: attr.int(bits), block_size: attr.int(bs), accuracy_level: attr.int(+(process.env.ACC ?? 4)) }, 'com.microsoft');
  };
  for (let l = 0; l < L; l++) { const y = mm(x, H, I, `a${l}`); x = mm(y, I, H, `b${l}`); }
  g.output(x, 'float32', [1, 'T', H], 'y');
  return serializeModel(g.build ? g.build() : g);
}
const kinds = (process.env.KINDS ?? 'fp32,dq,nb8,nb4').split(',');
const sessions = {};
for (const k of kinds) {
  const bytes = build(k === 'nb8' || k === 'nb4' ? 'nb' : k, k === 'nb4' ? 4 : 8);
  sessions[k] = await ort.InferenceSession.create(bytes, { executionMode: 'sequential', graphOptimizationLevel: 'all' });
}
const feeds = { 1: new ort.Tensor('float32', rnd(H), [1, 1, H]), 5: new ort.Tensor('float32', rnd(5 * H), [1, 5, H]) };
const times = {};
for (let rep = 0; rep < 300; rep++) for (const k of kinds) for (const T of [1, 5]) {
  const t0 = performance.now(); await sessions[k].run({ x: feeds[T] }); const dt = performance.now() - t0;
  if (rep >= 20) (times[`${k} T=${T}`] ??= []).push(dt);
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
for (const k of kinds) { const a = med(times[`${k} T=1`]), b = med(times[`${k} T=5`]); console.log(k.padEnd(6), 'T1', a.toFixed(3), 'T5', b.toFixed(3), 'ratio', (b / a).toFixed(2)); }
