/**
 * Rewrites a decoder's ONNX graph for a KV cache kept outside it (kv-cache.ts). In the standard
 * export each layer's `present.N.key` is `Concat(past_key_values.N.key, k_new)` along the
 * sequence axis: every step copies the whole past into a new tensor, attention reads that copy,
 * and fetching the presents copies it once more out of ONNX Runtime (onnxruntime-node copies each
 * output into a fresh JavaScript buffer). The cache needs only `k_new`, and attention can read
 * past and new keys where they are: softmax(q [K_past, K_new]^T) [V_past; V_new] is the scores
 * of each part concatenated (T x (P + T) values, not (P + T) x head_dim), and the output is the
 * sum of the two parts' products. Same weights and same math, minus the copies. Works on the
 * ONNX protobuf bytes directly: the graph's node and output fields are read and rewritten, all
 * else (weights included) is copied through.
 */

/** Per past input (`past_key_values.N.key`/`.value`, in input order), the name of its new-token tensor. */
export type NewKvOutputs = Map<string, string>;

interface Field {
  no: number;
  wire: number;
  /** Byte range of the whole field (key included). */
  start: number;
  end: number;
  /** Payload range of a length-delimited field. */
  from: number;
  to: number;
}

/** The top-level fields of one protobuf message in `buf[start, end)`. */
function* fields(buf: Uint8Array, start = 0, end = buf.length): Generator<Field> {
  let i = start;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (i >= end) throw new Error('truncated protobuf');
      const byte = buf[i++]!;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (i < end) {
    const fieldStart = i;
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    let from = i;
    let to = i;
    if (wire === 0) {
      varint();
      to = i;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const length = varint();
      from = i;
      i += length;
      to = i;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    if (i > end) throw new Error('truncated protobuf');
    yield { no, wire, start: fieldStart, end: i, from, to };
  }
}

const text = new TextDecoder();
const utf8 = new TextEncoder();
const str = (buf: Uint8Array, f: Field): string => text.decode(buf.subarray(f.from, f.to));

function encodeVarint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function lengthDelimited(no: number, payload: Uint8Array): Uint8Array {
  const head = [...encodeVarint(no * 8 + 2), ...encodeVarint(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ONNX field numbers (onnx.proto). ModelProto: graph 7, opset_import 8 (domain 1, version 2).
// GraphProto: node 1, output 12. NodeProto: input 1, output 2, name 3, op_type 4, attribute 5,
// domain 7. AttributeProto: name 1, i 3, t 5, ints 8, type 20. TensorProto: dims 1, data_type 2,
// raw_data 9. ValueInfoProto: name 1, type 2. TypeProto: tensor_type 1 (elem_type 1).
const MODEL_GRAPH = 7;
const MODEL_OPSET = 8;
const GRAPH_NODE = 1;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const FLOAT = 1;
const INT64 = 7;

const varintField = (no: number, value: number): Uint8Array => new Uint8Array([...encodeVarint(no * 8), ...encodeVarint(value)]);
const stringField = (no: number, value: string): Uint8Array => lengthDelimited(no, utf8.encode(value));

/** A graph output (or, with `field` GRAPH_INPUT, input) named `name` of element type `type` (shape left open). */
function tensorOutput(name: string, type = FLOAT, field = GRAPH_OUTPUT): Uint8Array {
  return lengthDelimited(field, concat([stringField(1, name), lengthDelimited(2, lengthDelimited(1, varintField(1, type)))]));
}

/** The output {@link prepareDecoderGraph} adds: the argmax of each logits position over the vocabulary (`[batch, positions]`, int64). */
export const ARGMAX_OUTPUT = 'decoder/logits_argmax';
/** The inputs it adds: the rows (batch indices, int64 `[rows]`) that want probabilities, and their temperatures (float `[rows, 1, 1]`). */
export const PROBS_ROWS_INPUT = 'decoder/probs_rows';
export const TEMPERATURE_INPUT = 'decoder/temperature';
/** The output it adds: softmax(logits / temperature) of those rows over the vocabulary, `[rows, positions, vocab]`. */
export const PROBS_OUTPUT = 'decoder/probs';

type Attribute = { name: string; ints?: number[]; int?: number; tensor?: Uint8Array };

function encodeAttribute(a: Attribute): Uint8Array {
  const parts = [stringField(1, a.name)];
  if (a.ints) parts.push(...a.ints.map((v) => varintField(8, v)), varintField(20, 7));
  else if (a.int !== undefined) parts.push(varintField(3, a.int), varintField(20, 2));
  else if (a.tensor) parts.push(lengthDelimited(5, a.tensor), varintField(20, 4));
  return lengthDelimited(5, concat(parts));
}

function encodeNode(op: string, inputs: string[], outputs: string[], name: string, attributes: Attribute[] = []): Uint8Array {
  return lengthDelimited(
    GRAPH_NODE,
    concat([...inputs.map((i) => stringField(1, i)), ...outputs.map((o) => stringField(2, o)), stringField(3, name), stringField(4, op), ...attributes.map(encodeAttribute)]),
  );
}

/** A 1-D int64 constant tensor. */
function int64Tensor(values: bigint[]): Uint8Array {
  const raw = new Uint8Array(BigInt64Array.from(values).buffer);
  return concat([varintField(1, values.length), varintField(2, INT64), lengthDelimited(9, raw)]);
}

interface GraphNode {
  field: Field;
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer-list attributes (perm, axes). */
  ints: Map<string, number[]>;
}

function readNode(model: Uint8Array, field: Field): GraphNode {
  const node: GraphNode = { field, op: '', inputs: [], outputs: [], ints: new Map() };
  for (const g of fields(model, field.from, field.to)) {
    if (g.no === 1 && g.wire === 2) node.inputs.push(str(model, g));
    else if (g.no === 2 && g.wire === 2) node.outputs.push(str(model, g));
    else if (g.no === 4 && g.wire === 2) node.op = str(model, g);
    else if (g.no === 5 && g.wire === 2) {
      let name = '';
      const ints: number[] = [];
      for (const a of fields(model, g.from, g.to)) {
        if (a.no === 1 && a.wire === 2) name = str(model, a);
        // ints, packed or not (small non-negative values only: perm).
        else if (a.no === 8 && a.wire === 0) ints.push(model[a.from]! < 0x80 ? model[a.from]! : -1);
        else if (a.no === 8 && a.wire === 2) for (let i = a.from; i < a.to; i++) ints.push(model[i]! < 0x80 ? model[i]! : -1);
      }
      if (ints.length > 0) node.ints.set(name, ints);
    }
  }
  return node;
}

/** What {@link prepareDecoderGraph} did to a model. */
export interface DecoderGraph {
  model: Uint8Array;
  /** Per past input, the output holding the pass's new keys or values `[batch, kv_heads, new, head_dim]`. */
  newKv: NewKvOutputs;
  /** Attention reads past and new keys/values separately; the present outputs are gone. */
  concatFree: boolean;
  /**
   * `logits` holds only the last new position of each row (`[batch, 1, vocab]`): the LM head runs
   * on that position alone, not on every position of a prompt chunk.
   */
  lastLogitsOnly: boolean;
  /**
   * The graph also outputs {@link ARGMAX_OUTPUT}, the argmax of `logits` over the vocabulary (the
   * lowest index on ties): a greedy step fetches that instead of the logits, which onnxruntime-node
   * would copy out (a vocabulary of floats per row) only for the worker to scan them.
   */
  argmax: boolean;
  /**
   * The graph takes {@link PROBS_ROWS_INPUT} and {@link TEMPERATURE_INPUT} (always to be fed, empty
   * when no row wants probabilities: the session runs every node, fetched or not) and outputs
   * {@link PROBS_OUTPUT}: a sampled step draws from probabilities the session computed
   * (vectorized), instead of one `Math.exp` per vocabulary entry in the worker.
   */
  probs: boolean;
}

/**
 * Rewrites a standard KV-cache export for a cache that lives outside the graph: exposes each
 * layer's new keys and values as outputs and, where the attention has the plain export's shape
 * (`Transpose(present.N.key)` into the scores MatMul, `present.N.value` into the output MatMul,
 * nothing else reading the presents), computes attention over past and new separately, so the
 * past is never concatenated (copied) into a present tensor (`concatFree: false` skips that part).
 * Undefined when the graph does not build its presents by concatenation (the caller then reads
 * new positions from the presents). The rewrite adds ~10 nodes per layer: on fortunes-gpt it makes
 * decode passes 15-20% faster at 5-16 rows of 100-250 positions and prefill passes ~5% slower.
 * Where `logits` is a plain MatMul (the LM head), it also runs that MatMul on each row's last new
 * position only (`lastLogitsOnly`): a prompt chunk's other positions need no logits, and on
 * fortunes-gpt the LM head is ~39% of a prefill token's compute (128 x 3,968 of ~1.3 M MACs).
 */
export function prepareDecoderGraph(model: Uint8Array, options: { concatFree?: boolean } = {}): DecoderGraph | undefined {
  const top = [...fields(model)];
  const graph = top.find((f) => f.no === MODEL_GRAPH && f.wire === 2);
  if (!graph) return undefined;
  let opset = 0;
  for (const f of top) {
    if (f.no !== MODEL_OPSET || f.wire !== 2) continue;
    let domain = '';
    let version = 0;
    for (const g of fields(model, f.from, f.to)) {
      if (g.no === 1 && g.wire === 2) domain = str(model, g);
      if (g.no === 2 && g.wire === 0) version = model[g.from]!;
    }
    if (domain === '' || domain === 'ai.onnx') opset = version;
  }
  const graphFields = [...fields(model, graph.from, graph.to)];
  const nodes = graphFields.filter((f) => f.no === GRAPH_NODE && f.wire === 2).map((f) => readNode(model, f));
  const graphOutputs = new Map<string, Field>();
  for (const f of graphFields) {
    if (f.no !== GRAPH_OUTPUT || f.wire !== 2) continue;
    for (const g of fields(model, f.from, f.to)) if (g.no === 1 && g.wire === 2) graphOutputs.set(str(model, g), f);
  }
  const consumers = new Map<string, GraphNode[]>();
  for (const n of nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const producer = new Map<string, GraphNode>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);

  // Every present output must be Concat(past, new) on the sequence axis.
  const presents = [...graphOutputs.keys()].filter((n) => /^present\.\d+\.(key|value)$/.test(n));
  const newKv: NewKvOutputs = new Map();
  for (const present of presents) {
    const past = present.replace(/^present\./, 'past_key_values.');
    const c = producer.get(present);
    if (!c || c.op !== 'Concat' || c.inputs.length !== 2 || c.inputs[0] !== past || !c.inputs[1]) return undefined;
    newKv.set(past, c.inputs[1]);
  }
  if (presents.length === 0) return undefined;

  // The attention pattern, per layer: present.key -> Transpose(0,1,3,2) -> MatMul(q, .), present.value -> MatMul(p, .).
  const rewrites = new Map<GraphNode, Uint8Array[]>();
  const removed = new Set<GraphNode>();
  const only = (name: string) => {
    const list = consumers.get(name) ?? [];
    return list.length === 1 ? list[0] : undefined;
  };
  let concatFree = (options.concatFree ?? true) && opset >= 15;
  for (const present of presents.filter((p) => p.endsWith('.key'))) {
    if (!concatFree) break;
    const layer = present.split('.')[1]!;
    const [pastK, pastV] = [`past_key_values.${layer}.key`, `past_key_values.${layer}.value`];
    const [newK, newV] = [newKv.get(pastK), newKv.get(pastV)];
    const transpose = only(present);
    const scores = transpose && only(transpose.outputs[0]!);
    const output = only(`present.${layer}.value`);
    const perm = transpose?.ints.get('perm')?.join(',');
    if (!newK || !newV || transpose?.op !== 'Transpose' || perm !== '0,1,3,2' || scores?.op !== 'MatMul' || scores.inputs[1] !== transpose.outputs[0] || output?.op !== 'MatMul' || output.inputs[1] !== `present.${layer}.value`) {
      concatFree = false;
      break;
    }
    const p = `kv_cache/${layer}/`;
    const q = scores.inputs[0]!;
    rewrites.set(scores, [
      encodeNode('Transpose', [pastK], [`${p}past_kT`], `${p}past_kT`, [{ name: 'perm', ints: [0, 1, 3, 2] }]),
      encodeNode('MatMul', [q, `${p}past_kT`], [`${p}scores_past`], `${p}scores_past`),
      encodeNode('Transpose', [newK], [`${p}new_kT`], `${p}new_kT`, [{ name: 'perm', ints: [0, 1, 3, 2] }]),
      encodeNode('MatMul', [q, `${p}new_kT`], [`${p}scores_new`], `${p}scores_new`),
      encodeNode('Concat', [`${p}scores_past`, `${p}scores_new`], [scores.outputs[0]!], `${p}scores`, [{ name: 'axis', int: 3 }]),
    ]);
    const probs = output.inputs[0]!;
    rewrites.set(output, [
      encodeNode('Constant', [], [`${p}zero`], `${p}zero`, [{ name: 'value', tensor: int64Tensor([0n]) }]),
      encodeNode('Constant', [], [`${p}axis`], `${p}axis`, [{ name: 'value', tensor: int64Tensor([3n]) }]),
      encodeNode('Constant', [], [`${p}end`], `${p}end`, [{ name: 'value', tensor: int64Tensor([0x7fffffffffffffffn]) }]),
      encodeNode('Shape', [pastV], [`${p}past_length`], `${p}past_length`, [{ name: 'start', int: 2 }, { name: 'end', int: 3 }]),
      encodeNode('Slice', [probs, `${p}zero`, `${p}past_length`, `${p}axis`], [`${p}probs_past`], `${p}probs_past`),
      encodeNode('Slice', [probs, `${p}past_length`, `${p}end`, `${p}axis`], [`${p}probs_new`], `${p}probs_new`),
      encodeNode('MatMul', [`${p}probs_past`, pastV], [`${p}out_past`], `${p}out_past`),
      encodeNode('MatMul', [`${p}probs_new`, newV], [`${p}out_new`], `${p}out_new`),
      encodeNode('Add', [`${p}out_past`, `${p}out_new`], [output.outputs[0]!], `${p}out`),
    ]);
    removed.add(producer.get(present)!).add(producer.get(`present.${layer}.value`)!).add(transpose);
  }

  // The LM head on the last new position only: a pass needs no other position's logits. Rows of a
  // prefill pass with fewer new tokens than the pass are padded by repeating their last token at
  // its position with the padded keys masked (decoder-worker.ts), so the pass's last position has
  // the same hidden state as the row's last real token.
  const head = producer.get('logits');
  const lastLogitsOnly = head?.op === 'MatMul' && head.inputs.length === 2 && graphOutputs.has('logits') && opset >= 13;
  const headRewrite = new Map<GraphNode, Uint8Array[]>();
  if (lastLogitsOnly) {
    const p = 'lm_head/last/';
    headRewrite.set(head, [
      encodeNode('Constant', [], [`${p}start`], `${p}start`, [{ name: 'value', tensor: int64Tensor([-1n]) }]),
      encodeNode('Constant', [], [`${p}end`], `${p}end`, [{ name: 'value', tensor: int64Tensor([0x7fffffffffffffffn]) }]),
      encodeNode('Constant', [], [`${p}axis`], `${p}axis`, [{ name: 'value', tensor: int64Tensor([1n]) }]),
      encodeNode('Slice', [head.inputs[0]!, `${p}start`, `${p}end`, `${p}axis`], [`${p}hidden`], `${p}hidden`),
      encodeNode('MatMul', [`${p}hidden`, head.inputs[1]!], ['logits'], `${p}logits`),
    ]);
  }

  const byField = new Map(nodes.map((n) => [n.field.start, n]));
  const parts: Uint8Array[] = [];
  for (const f of graphFields) {
    const node = byField.get(f.start);
    if (node && headRewrite.has(node)) {
      parts.push(...headRewrite.get(node)!);
      continue;
    }
    if (concatFree && node && removed.has(node)) continue;
    if (concatFree && node && rewrites.has(node)) {
      parts.push(...rewrites.get(node)!);
      continue;
    }
    if (concatFree && f.no === GRAPH_OUTPUT && presents.some((n) => graphOutputs.get(n) === f)) continue;
    parts.push(model.subarray(f.start, f.end));
  }
  parts.push(...[...newKv.values()].filter((n) => !graphOutputs.has(n)).map((n) => tensorOutput(n)));
  const argmax = graphOutputs.has('logits') && !graphOutputs.has(ARGMAX_OUTPUT);
  if (argmax) {
    parts.push(encodeNode('ArgMax', ['logits'], [ARGMAX_OUTPUT], ARGMAX_OUTPUT, [{ name: 'axis', int: 2 }, { name: 'keepdims', int: 0 }]));
    parts.push(tensorOutput(ARGMAX_OUTPUT, INT64));
  }
  // Softmax's axis attribute means one axis from opset 13 (a flattened tail before).
  const probs = graphOutputs.has('logits') && !graphOutputs.has(PROBS_OUTPUT) && opset >= 13;
  if (probs) {
    parts.push(tensorOutput(PROBS_ROWS_INPUT, INT64, GRAPH_INPUT), tensorOutput(TEMPERATURE_INPUT, FLOAT, GRAPH_INPUT));
    parts.push(encodeNode('Gather', ['logits', PROBS_ROWS_INPUT], ['decoder/probs_logits'], 'decoder/probs_logits', [{ name: 'axis', int: 0 }]));
    parts.push(encodeNode('Div', ['decoder/probs_logits', TEMPERATURE_INPUT], ['decoder/scaled_logits'], 'decoder/scaled_logits'));
    parts.push(encodeNode('Softmax', ['decoder/scaled_logits'], [PROBS_OUTPUT], PROBS_OUTPUT, [{ name: 'axis', int: 2 }]));
    parts.push(tensorOutput(PROBS_OUTPUT));
  }
  return {
    model: concat([model.subarray(0, graph.start), lengthDelimited(MODEL_GRAPH, concat(parts)), model.subarray(graph.end)]),
    newKv,
    concatFree,
    lastLogitsOnly,
    argmax,
    probs,
  };
}
