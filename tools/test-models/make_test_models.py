#!/usr/bin/python3
"""Builds the small ONNX models used by the serving specs and the batching bench.

Run with Debian's Python (python3-onnx, python3-numpy):

    /usr/bin/python3 tools/test-models/make_test_models.py

Outputs (deterministic, seeded; committed):
  libs/serving/test/models/add_one/1/model.onnx        x FP32 [B,4] -> y = x + 1
  libs/serving/test/models/add_one/2/model.onnx        x FP32 [B,4] -> y = x + 2 (a second version)
  libs/serving/test/models/spin/1/model.onnx           x FP32 [B,4], iters INT64 [B,1] -> y = x + 1,
                                                       after max(iters) loop iterations of busy work
  libs/serving/test/models/identity_types/1/model.onnx one Identity per datatype (FP32..BOOL)
  libs/serving/test/models/tiny_encoder/1/model.onnx   1-layer transformer encoder, hidden 16, masked
                                                       mean pooling (padding-invariant by construction)
  models/minilm-standin/1/model.onnx                   bench stand-in: 2-layer encoder, hidden 128,
                                                       4 heads, FFN 512, vocab 1024, seq <= 64,
                                                       RANDOM weights (bench only)
The config.json beside each model is hand-written and committed with it.
"""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEST = os.path.join(ROOT, "libs", "serving", "test", "models")
OPSET = [helper.make_opsetid("", 17)]


def save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def add_n(n):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    g = helper.make_graph([helper.make_node("Add", ["x", "n"], ["y"])], f"add_{n}", [x], [y],
                          [const("n", np.array([n], np.float32))])
    return helper.make_model(g, opset_imports=OPSET)


def spin():
    """y = x + 1, but only after max(iters) iterations of a 128x128 matmul chain (busy work)."""
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((128, 128)) / np.sqrt(128)).astype(np.float32)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "w"], ["mm"]), helper.make_node("Tanh", ["mm"], ["h_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "spin_body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 128])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 128])],
        [const("w", w)])
    nodes = [
        helper.make_node("ReduceMax", ["iters"], ["iters_max"], keepdims=0),
        helper.make_node("Loop", ["iters_max", "true", "h0"], ["h_final"], body=body),
        helper.make_node("ReduceSum", ["h_final"], ["h_sum"], keepdims=0),
        helper.make_node("Mul", ["h_sum", "zero"], ["h_zero"]),
        helper.make_node("Add", ["x", "one"], ["x1"]),
        helper.make_node("Add", ["x1", "h_zero"], ["y"]),
    ]
    g = helper.make_graph(
        nodes, "spin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("iters", TensorProto.INT64, ["batch", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [const("true", np.array(True)), const("h0", np.full((1, 128), 0.5, np.float32)),
         const("zero", np.array(0.0, np.float32)), const("one", np.array(1.0, np.float32))])
    return helper.make_model(g, opset_imports=OPSET)


def identity_types():
    types = [("fp32", TensorProto.FLOAT), ("fp64", TensorProto.DOUBLE), ("int32", TensorProto.INT32),
             ("int64", TensorProto.INT64), ("int8", TensorProto.INT8), ("uint8", TensorProto.UINT8),
             ("bool", TensorProto.BOOL)]
    nodes = [helper.make_node("Identity", [f"in_{n}"], [f"out_{n}"]) for n, _ in types]
    ins = [helper.make_tensor_value_info(f"in_{n}", t, ["batch", 3]) for n, t in types]
    outs = [helper.make_tensor_value_info(f"out_{n}", t, ["batch", 3]) for n, t in types]
    return helper.make_model(helper.make_graph(nodes, "identity_types", ins, outs), opset_imports=OPSET)


def encoder(name, vocab, hidden, layers, heads, ffn, max_len, seed):
    """Transformer encoder with an additive attention mask and masked mean pooling.

    Inputs input_ids, attention_mask INT64 [B, L]; outputs embedding FP32 [B, H] and
    hidden FP32 [B, L, H]. Padded positions get -1e9 attention bias and are excluded from
    the pooled mean, so a request's outputs do not depend on how much it was padded.
    """
    rng = np.random.default_rng(seed)
    hd = hidden // heads
    inits = [
        const("tok_emb", (rng.standard_normal((vocab, hidden)) * 0.1).astype(np.float32)),
        const("pos_emb", (rng.standard_normal((max_len, hidden)) * 0.1).astype(np.float32)),
        const("i0", np.array(0, np.int64)), const("i1", np.array(1, np.int64)),
        const("one_f", np.array(1.0, np.float32)), const("neg_big", np.array(-1e9, np.float32)),
        const("eps", np.array(1e-9, np.float32)), const("ax1", np.array([1], np.int64)),
        const("ax12", np.array([1, 2], np.int64)), const("ax2", np.array([2], np.int64)),
        const("split_heads", np.array([0, 0, heads, hd], np.int64)),
        const("merge_heads", np.array([0, 0, hidden], np.int64)),
        const("scale", np.array(1.0 / np.sqrt(hd), np.float32)),
    ]
    nodes = [
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "i1"], ["seq_len"], axis=0),
        helper.make_node("Range", ["i0", "seq_len", "i1"], ["positions"]),
        helper.make_node("Gather", ["tok_emb", "input_ids"], ["tok"]),
        helper.make_node("Gather", ["pos_emb", "positions"], ["pos"]),
        helper.make_node("Add", ["tok", "pos"], ["x0"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one_f", "mask_f"], ["inv_mask"]),
        helper.make_node("Mul", ["inv_mask", "neg_big"], ["bias2"]),
        helper.make_node("Unsqueeze", ["bias2", "ax12"], ["bias"]),  # [B,1,1,L]
    ]
    x = "x0"
    for l in range(layers):
        p = f"l{l}_"
        for nm, shape in [("wq", (hidden, hidden)), ("wk", (hidden, hidden)), ("wv", (hidden, hidden)),
                          ("wo", (hidden, hidden)), ("w1", (hidden, ffn)), ("w2", (ffn, hidden))]:
            inits.append(const(p + nm, (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)))
        for nm, size in [("bq", hidden), ("bk", hidden), ("bv", hidden), ("bo", hidden), ("b1", ffn), ("b2", hidden)]:
            inits.append(const(p + nm, (rng.standard_normal(size) * 0.02).astype(np.float32)))
        for nm in ["ln1", "ln2"]:
            inits.append(const(p + nm + "_g", np.ones(hidden, np.float32)))
            inits.append(const(p + nm + "_b", np.zeros(hidden, np.float32)))
        for t in ["q", "k", "v"]:
            nodes += [helper.make_node("MatMul", [x, p + "w" + t], [p + t + "_mm"]),
                      helper.make_node("Add", [p + t + "_mm", p + "b" + t], [p + t]),
                      helper.make_node("Reshape", [p + t, "split_heads"], [p + t + "_h"])]
        nodes += [
            helper.make_node("Transpose", [p + "q_h"], [p + "qT"], perm=[0, 2, 1, 3]),
            helper.make_node("Transpose", [p + "k_h"], [p + "kT"], perm=[0, 2, 3, 1]),
            helper.make_node("Transpose", [p + "v_h"], [p + "vT"], perm=[0, 2, 1, 3]),
            helper.make_node("MatMul", [p + "qT", p + "kT"], [p + "scores_raw"]),
            helper.make_node("Mul", [p + "scores_raw", "scale"], [p + "scores_scaled"]),
            helper.make_node("Add", [p + "scores_scaled", "bias"], [p + "scores"]),
            helper.make_node("Softmax", [p + "scores"], [p + "probs"], axis=-1),
            helper.make_node("MatMul", [p + "probs", p + "vT"], [p + "ctx_h"]),
            helper.make_node("Transpose", [p + "ctx_h"], [p + "ctx_t"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [p + "ctx_t", "merge_heads"], [p + "ctx"]),
            helper.make_node("MatMul", [p + "ctx", p + "wo"], [p + "attn_mm"]),
            helper.make_node("Add", [p + "attn_mm", p + "bo"], [p + "attn"]),
            helper.make_node("Add", [x, p + "attn"], [p + "res1"]),
            helper.make_node("LayerNormalization", [p + "res1", p + "ln1_g", p + "ln1_b"], [p + "h1"], axis=-1),
            helper.make_node("MatMul", [p + "h1", p + "w1"], [p + "f1_mm"]),
            helper.make_node("Add", [p + "f1_mm", p + "b1"], [p + "f1_pre"]),
            helper.make_node("Relu", [p + "f1_pre"], [p + "f1"]),
            helper.make_node("MatMul", [p + "f1", p + "w2"], [p + "f2_mm"]),
            helper.make_node("Add", [p + "f2_mm", p + "b2"], [p + "f2"]),
            helper.make_node("Add", [p + "h1", p + "f2"], [p + "res2"]),
            helper.make_node("LayerNormalization", [p + "res2", p + "ln2_g", p + "ln2_b"], [p + "out"], axis=-1),
        ]
        x = p + "out"
    nodes += [
        helper.make_node("Identity", [x], ["hidden"]),
        helper.make_node("Unsqueeze", ["mask_f", "ax2"], ["mask3"]),
        helper.make_node("Mul", [x, "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "ax1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask_f", "ax1"], ["count_raw"], keepdims=1),
        helper.make_node("Max", ["count_raw", "eps"], ["count"]),
        helper.make_node("Div", ["summed", "count"], ["embedding"]),
    ]
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden]),
         helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", hidden])],
        inits)
    return helper.make_model(g, opset_imports=OPSET)


def main():
    save(add_n(1), os.path.join(TEST, "add_one", "1", "model.onnx"))
    save(add_n(2), os.path.join(TEST, "add_one", "2", "model.onnx"))
    save(spin(), os.path.join(TEST, "spin", "1", "model.onnx"))
    save(identity_types(), os.path.join(TEST, "identity_types", "1", "model.onnx"))
    save(encoder("tiny_encoder", vocab=50, hidden=16, layers=1, heads=2, ffn=32, max_len=32, seed=7),
         os.path.join(TEST, "tiny_encoder", "1", "model.onnx"))
    save(encoder("minilm_standin", vocab=1024, hidden=128, layers=2, heads=4, ffn=512, max_len=64, seed=11),
         os.path.join(ROOT, "models", "minilm-standin", "1", "model.onnx"))


if __name__ == "__main__":
    main()
