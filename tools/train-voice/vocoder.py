"""Griffin-Lim vocoder as a plain ONNX graph (opset 17): log-mel [B, F, 80] -> waveform [B, 1, F * HOP].

Mel -> linear magnitude by the filterbank's pseudo-inverse (clamped at 0), then fast Griffin-Lim
(Perraudin et al. 2013, momentum 0.99) for ITERATIONS rounds of ISTFT -> STFT, each a MatMul with a
real DFT matrix (in this ONNX Runtime build MatMul is several times faster than the `DFT` op and
batches better). Framing and overlap-add use slices of HOP-sized chunks (N_FFT = 4 * HOP), so the
graph carries no large constants. The initial phase is an integer hash of (frame, bin): deterministic,
and independent of the other rows of a batch. Padded frames have zero magnitude and the window-sum
normalisation counts only a row's own frames, and the signal past a row's frames is zeroed after
every ISTFT (as an unpadded row's is), so batched rows equal unbatched ones.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dataset import HOP, N_FFT, mel_basis

ITERATIONS = 16
MOMENTUM = 0.99
BINS = N_FFT // 2 + 1
CHUNKS = N_FFT // HOP


class _Graph:
    def __init__(self) -> None:
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, value, dtype=np.float32) -> str:
        name = f"c{self.n}"
        self.n += 1
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, kind: str, inputs: list[str], **attrs) -> str:
        out = f"v{self.n}"
        self.n += 1
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out


def _ola(g: _Graph, frames: str, b: str, f: str) -> str:
    """Overlap-add [B, F, N_FFT] frames at HOP, trimmed to the centred signal [B, F * HOP]."""
    parts = g.op("Reshape", [frames, g.op("Concat", [b, f, g.const([CHUNKS, HOP], np.int64)], axis=0)])
    acc = None
    for k in range(CHUNKS):
        part = g.op("Squeeze", [g.op("Slice", [parts, g.const([k], np.int64), g.const([k + 1], np.int64),
                                                 g.const([2], np.int64)]), g.const([2], np.int64)])
        pads = g.const([0, k, 0, 0, CHUNKS - 1 - k, 0], np.int64)
        shifted = g.op("Pad", [part, pads])
        acc = shifted if acc is None else g.op("Add", [acc, shifted])
    flat = g.op("Reshape", [acc, g.const([0, -1], np.int64)])  # [B, (F + 3) * HOP]
    start = N_FFT // 2
    return g.op("Slice", [flat, g.const([start], np.int64), g.const([-(N_FFT // 2 - HOP) or 2**62], np.int64),
                          g.const([1], np.int64)])


def _frames(g: _Graph, signal: str, b: str, f: str) -> str:
    """[B, F * HOP] -> centred frames [B, F, N_FFT] (zero padded by N_FFT / 2 on each side)."""
    padded = g.op("Pad", [signal, g.const([0, N_FFT // 2, 0, N_FFT // 2], np.int64)])
    chunks = g.op("Reshape", [padded, g.op("Concat", [b, g.const([-1, HOP], np.int64)], axis=0)])  # [B, F+4, HOP]
    parts = [g.op("Slice", [chunks, g.const([k], np.int64), g.const([k - CHUNKS], np.int64), g.const([1], np.int64)])
             for k in range(CHUNKS)]
    return g.op("Concat", parts, axis=2)


def _dft_matrices(g: _Graph) -> tuple[str, str]:
    """Real DFT matrices made in the graph from Range/Mod/Cos/Sin (folded to constants when the
    session opens, so the file stays small): forward [N_FFT, 2 * BINS] -> (re, im), inverse
    [2 * BINS, N_FFT] -> real frames (one-sided bins weighted 1, 2, ..., 2, 1)."""
    n = g.op("Range", [g.const(0, np.int64), g.const(N_FFT, np.int64), g.const(1, np.int64)])
    k = g.op("Range", [g.const(0, np.int64), g.const(BINS, np.int64), g.const(1, np.int64)])
    nk = g.op("Mod", [g.op("Mul", [g.op("Unsqueeze", [n, g.const([1], np.int64)]), k]), g.const(N_FFT, np.int64)])
    angle = g.op("Mul", [g.op("Cast", [nk], to=TensorProto.FLOAT), g.const(2 * np.pi / N_FFT)])  # [N_FFT, BINS]
    cos, sin = g.op("Cos", [angle]), g.op("Sin", [angle])
    forward = g.op("Concat", [cos, g.op("Neg", [sin])], axis=1)
    weight = np.full(BINS, 2.0 / N_FFT, np.float32)
    weight[0] = weight[-1] = 1.0 / N_FFT
    inverse = g.op("Transpose", [g.op("Concat", [g.op("Mul", [cos, g.const(weight)]), g.op("Mul", [g.op("Neg", [sin]), g.const(weight)])], axis=1)], perm=[1, 0])
    return forward, inverse


def _istft(g, window, wsum, smask, inverse, spec, b, f) -> str:
    """One-sided spectrum [B, F, 2 * BINS] (re | im) -> signal [B, F * HOP], zero past the row's own frames."""
    real = g.op("MatMul", [spec, inverse])
    return g.op("Mul", [g.op("Div", [_ola(g, g.op("Mul", [real, window]), b, f), wsum]), smask])


def _stft(g, window, forward, signal, b, f) -> str:
    """[B, F * HOP] -> one-sided spectrum [B, F, 2 * BINS] (re | im)."""
    return g.op("MatMul", [g.op("Mul", [_frames(g, signal, b, f), window]), forward])


def build(iterations: int = ITERATIONS) -> onnx.ModelProto:
    """Inputs `mel` [B, F, 80] (log magnitude) and `frame_mask` [B, F]; output `output` [B, 1, F * HOP]."""
    g = _Graph()
    shape = g.op("Shape", ["mel"])
    b = g.op("Slice", [shape, g.const([0], np.int64), g.const([1], np.int64)])
    f = g.op("Slice", [shape, g.const([1], np.int64), g.const([2], np.int64)])
    window = g.const(np.hanning(N_FFT + 1)[:-1].astype(np.float32))
    fmask3 = g.op("Unsqueeze", ["frame_mask", g.const([2], np.int64)])
    mag = g.op("Mul", [g.op("Exp", ["mel"]), fmask3])
    lin = g.op("Relu", [g.op("MatMul", [mag, g.const(np.linalg.pinv(mel_basis()).T.astype(np.float32))])])
    lin = g.op("Mul", [lin, fmask3])  # [B, F, BINS]
    lin2 = g.op("Concat", [lin, lin], axis=2)  # target magnitude for re and im halves
    forward, inverse = _dft_matrices(g)
    wsq = g.op("Mul", [fmask3, g.const((np.hanning(N_FFT + 1)[:-1] ** 2).astype(np.float32))])
    wsum = g.op("Max", [_ola(g, wsq, b, f), g.const(1e-3)])
    # samples of a row's own frames: what lies past them is zeroed after every ISTFT, as if unpadded
    smask = g.op("Reshape", [g.op("Mul", [fmask3, g.const(np.ones((1, 1, HOP), np.float32))]), g.const([0, -1], np.int64)])
    # deterministic initial phase from (frame, bin)
    fi = g.op("Range", [g.const(0, np.int64), g.op("Squeeze", [f, g.const([0], np.int64)]), g.const(1, np.int64)])
    idx = g.op("Add", [g.op("Mul", [g.op("Unsqueeze", [fi, g.const([1], np.int64)]), g.const(BINS, np.int64)]),
                       g.const(np.arange(BINS), np.int64)])
    h = idx
    for _ in range(2):
        h = g.op("Mod", [g.op("Add", [g.op("Mul", [h, g.const(1103515245, np.int64)]), g.const(12345, np.int64)]),
                         g.const(2147483648, np.int64)])
    phase = g.op("Mul", [g.op("Cast", [h], to=TensorProto.FLOAT), g.const(2 * np.pi / 2147483648.0)])
    unit = g.op("Unsqueeze", [g.op("Concat", [g.op("Cos", [phase]), g.op("Sin", [phase])], axis=1), g.const([0], np.int64)])
    prev = g.op("Mul", [lin2, unit])  # [B, F, 2 * BINS]
    x = prev
    for _ in range(iterations):
        y = _stft(g, window, forward, _istft(g, window, wsum, smask, inverse, x, b, f), b, f)
        y4 = g.op("Reshape", [y, g.const([0, 0, 2, BINS], np.int64)])
        norm = g.op("Sqrt", [g.op("Add", [g.op("ReduceSumSquare", [y4], axes=[2], keepdims=1), g.const(1e-9)])])
        c = g.op("Mul", [g.op("Reshape", [g.op("Div", [y4, norm]), g.const([0, 0, 2 * BINS], np.int64)]), lin2])
        x = g.op("Add", [c, g.op("Mul", [g.op("Sub", [c, prev]), g.const(MOMENTUM)])])
        prev = c
    signal = _istft(g, window, wsum, smask, inverse, prev, b, f)
    out = g.op("Unsqueeze", [signal, g.const([1], np.int64)])
    g.nodes.append(helper.make_node("Identity", [out], ["output"]))
    graph = helper.make_graph(
        g.nodes, "griffin_lim",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", "frames", 80]),
         helper.make_tensor_value_info("frame_mask", TensorProto.FLOAT, ["batch", "frames"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1, "samples"])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    onnx.save(build(), "/tmp/gl.onnx")
