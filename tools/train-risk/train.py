#!/usr/bin/env python3
"""Trains the risk classifier and exports it to ONNX for @aigc/serving.

Model: hashed character n-gram ids (see services/moderation/src/risk/features.ts) -> embedding
(16384 x 32) -> masked mean -> 64 ReLU -> 8 logits -> softmax `probs`. About 2 MiB. Inputs
`input_ids` and `attention_mask` are [batch, length] int64 so the serving core can pad a batch.

    /usr/bin/python3 tools/train-risk/train.py [dataset.jsonl] [models/risk-classifier]

Deterministic (seeded); a few minutes on a CPU. Writes <model dir>/1/model.onnx and
<model dir>/training-metrics.json (held-out precision/recall).
"""
import json
import os
import random
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
DATASET = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '.data', 'dataset.jsonl')
MODEL_DIR = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, 'models', 'risk-classifier')
LABELS = ['safe', 'violence', 'sexual', 'hate', 'self_harm', 'illegal', 'fraud', 'profanity']
BUCKETS = 16384
DIM = 32
HIDDEN = 64
FLAG_SCORE = 0.3  # MODERATION_FLAG_SCORE default: a text is "risky" when max non-safe prob >= this

random.seed(7)
np.random.seed(7)
torch.manual_seed(7)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


class RiskClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(BUCKETS, DIM, padding_idx=0)
        self.hidden = nn.Linear(DIM, HIDDEN)
        self.out = nn.Linear(HIDDEN, len(LABELS))

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.to(torch.float32).unsqueeze(-1)
        emb = self.embedding(input_ids) * mask
        mean = emb.sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.softmax(self.out(torch.relu(self.hidden(mean))), dim=-1)


def load(path):
    train, test = [], []
    with open(path, encoding='utf-8') as f:
        for line in f:
            row = json.loads(line)
            (test if row['split'] == 'test' else train).append((row['ids'], row['label']))
    return train, test


def batchify(rows):
    width = max(len(ids) for ids, _ in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, (seq, _) in enumerate(rows):
        ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
    labels = np.array([label for _, label in rows], dtype=np.int64)
    return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(labels)


def evaluate(model, rows):
    model.eval()
    with torch.no_grad():
        probs = torch.cat([model(*batchify(rows[i : i + 256])[:2]) for i in range(0, len(rows), 256)]).numpy()
    labels = np.array([label for _, label in rows])
    risky = probs[:, 1:].max(axis=1) >= FLAG_SCORE
    harmful = labels != 0
    tp = int((risky & harmful).sum())
    fp = int((risky & ~harmful).sum())
    fn = int((~risky & harmful).sum())
    per_category = {}
    predicted = probs.argmax(axis=1)
    for k, name in enumerate(LABELS):
        if k == 0:
            continue
        ctp = int(((predicted == k) & (labels == k)).sum())
        cfp = int(((predicted == k) & (labels != k)).sum())
        cfn = int(((predicted != k) & (labels == k)).sum())
        per_category[name] = {
            'precision': round(ctp / max(1, ctp + cfp), 4),
            'recall': round(ctp / max(1, ctp + cfn), 4),
            'support': int((labels == k).sum()),
        }
    return {
        'examples': len(rows),
        'harmful': int(harmful.sum()),
        'threshold': FLAG_SCORE,
        'recall': round(tp / max(1, tp + fn), 4),
        'precision': round(tp / max(1, tp + fp), 4),
        'false_positive_rate': round(fp / max(1, int((~harmful).sum())), 4),
        'accuracy_argmax': round(float((predicted == labels).mean()), 4),
        'per_category_argmax': per_category,
    }


def main():
    train, test = load(DATASET)
    model = RiskClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.NLLLoss()
    for epoch in range(12):
        model.train()
        random.shuffle(train)
        total = 0.0
        for i in range(0, len(train), 64):
            ids, mask, labels = batchify(train[i : i + 64])
            probs = model(ids, mask)
            loss = loss_fn(torch.log(probs.clamp(min=1e-9)), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss) * len(labels)
        print(f'epoch {epoch + 1}: loss {total / len(train):.4f}', flush=True)

    metrics = {'train': evaluate(model, train), 'held_out': evaluate(model, test), 'labels': LABELS}
    print(json.dumps(metrics['held_out'], indent=1))

    os.makedirs(os.path.join(MODEL_DIR, '1'), exist_ok=True)
    model.eval()
    example = batchify(train[:2])[:2]
    torch.onnx.export(
        model,
        example,
        os.path.join(MODEL_DIR, '1', 'model.onnx'),
        input_names=['input_ids', 'attention_mask'],
        output_names=['probs'],
        dynamic_axes={'input_ids': {0: 'batch', 1: 'length'}, 'attention_mask': {0: 'batch', 1: 'length'}, 'probs': {0: 'batch'}},
        opset_version=17,
    )
    with open(os.path.join(MODEL_DIR, 'training-metrics.json'), 'w', encoding='utf-8') as f:
        json.dump(metrics, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
