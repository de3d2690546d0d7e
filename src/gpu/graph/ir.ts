/**
 * specstream's graph IR: a thin, plain-data mirror of ONNX's GraphProto that the model builder
 * emits, reverse-mode autodiff transforms, and `serialize.ts` encodes with the official
 * onnx.proto (onnx-proto). Node op types and attributes are ONNX's own, so the IR has no
 * semantics of its own to keep in sync.
 */
export type DType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8';
/** A static size or a symbolic dimension name (e.g. 'batch', 'past_sequence_length'). */
export type Dim = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

export type TensorArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

export interface TensorData {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TensorArray;
}

export type Attr =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'ints'; readonly value: readonly number[] }
  | { readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly type: 'tensor'; readonly value: TensorData };

export const attr = {
  int: (value: number): Attr => ({ type: 'int', value }),
  float: (value: number): Attr => ({ type: 'float', value }),
  string: (value: string): Attr => ({ type: 'string', value }),
  ints: (value: readonly number[]): Attr => ({ type: 'ints', value }),
  floats: (value: readonly number[]): Attr => ({ type: 'floats', value }),
  tensor: (value: TensorData): Attr => ({ type: 'tensor', value }),
};

export interface Node {
  readonly name: string;
  readonly opType: string;
  /** '' (default ONNX domain) or e.g. 'com.microsoft'. */
  readonly domain: string;
  /** Value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

export interface Graph {
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** Constant weights baked into the model (weights that change every step are inputs instead). */
  readonly initializers: readonly TensorData[];
  /** Topologically ordered. */
  readonly nodes: readonly Node[];
  /** Optional shape/type annotations of intermediate values. */
  readonly valueInfo?: readonly ValueInfo[];
}

export interface OpsetImport {
  readonly domain: string;
  readonly version: number;
}

/** ONNX opset 17 for the default domain; com.microsoft contrib ops version 1. */
export const DEFAULT_OPSETS: readonly OpsetImport[] = [
  { domain: '', version: 17 },
  { domain: 'com.microsoft', version: 1 },
];

/**
 * Imperative construction of a `Graph` with fresh value names.
 *
 * ```ts
 * const g = new GraphBuilder('mlp');
 * const x = g.input('x', 'float32', ['batch', 4]);
 * const w = g.initializer('w', 'float32', [4, 2], new Float32Array(8));
 * g.output(g.op('MatMul', [x, w]), 'float32', ['batch', 2], 'y');
 * const graph = g.build();
 * ```
 */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: TensorData[] = [];
  private readonly valueInfo: ValueInfo[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name with the given prefix. */
  fresh(prefix = 'v'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`graph ${this.name}: value name "${name}" is already defined`);
    this.used.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: readonly Dim[]): string {
    this.inputs.push({ name: this.claim(name), dtype, shape });
    return name;
  }

  initializer(name: string, dtype: DType, dims: readonly number[], data: TensorArray): string {
    this.initializers.push({ name: this.claim(name), dtype, dims, data });
    return name;
  }

  /** Marks `value` as a graph output; renames it through an Identity when `as` differs. */
  output(value: string, dtype: DType, shape: readonly Dim[], as: string = value): string {
    const name = as === value ? value : this.op('Identity', [value], {}, { outputs: [as] })[0]!;
    this.outputs.push({ name, dtype, shape });
    return name;
  }

  annotate(info: ValueInfo): void {
    this.valueInfo.push(info);
  }

  /**
   * Appends a node; returns its output names (fresh unless given).
   * `opts.outputs` is a count or explicit names.
   */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, Attr>> = {},
    opts: { outputs?: number | readonly string[]; domain?: string; name?: string } = {},
  ): string[] {
    const spec = opts.outputs ?? 1;
    const outputs =
      typeof spec === 'number'
        ? Array.from({ length: spec }, () => this.fresh(opType.toLowerCase()))
        : spec.map((n) => (n === '' ? '' : this.claim(n)));
    this.nodes.push({
      name: opts.name ?? `${opType}_${this.nodes.length}`,
      opType,
      domain: opts.domain ?? '',
      inputs,
      outputs,
      attrs,
    });
    return outputs;
  }

  /** Single-output shorthand for `op`. */
  op1(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, Attr>> = {}, domain = ''): string {
    return this.op(opType, inputs, attrs, { domain })[0]!;
  }

  /** A constant tensor as an initializer (int64 shapes/axes, float scalars). */
  constInt64(values: readonly number[], dims: readonly number[] = [values.length], prefix = 'const'): string {
    return this.constTensor(prefix, 'int64', dims, BigInt64Array.from(values.map(BigInt)));
  }

  constFloat(values: readonly number[], dims: readonly number[] = [values.length], prefix = 'const'): string {
    return this.constTensor(prefix, 'float32', dims, Float32Array.from(values));
  }

  /** A constant initializer under a fresh name (`fresh` already reserves the name, so no `claim`). */
  private constTensor(prefix: string, dtype: DType, dims: readonly number[], data: TensorArray): string {
    const name = this.fresh(prefix);
    this.initializers.push({ name, dtype, dims, data });
    return name;
  }

  build(): Graph {
    return {
      name: this.name,
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      initializers: [...this.initializers],
      nodes: [...this.nodes],
      valueInfo: [...this.valueInfo],
    };
  }
}
