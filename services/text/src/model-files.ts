import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notFound } from '@aigc/runtime';

/** The repository's `models/` directory, found walking up from this file. */
export function defaultModelRepository(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'models')) && existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return join(dir, 'models');
    dir = dirname(dir);
  }
  return resolve('models');
}

/** Path of the newest version (`models/<name>/<n>/model.onnx`, largest n) of a model. */
export function newestModelFile(repository: string, name: string): { path: string; version: string } {
  const dir = join(repository, name);
  if (!existsSync(dir)) throw notFound(`model ${name} not found in ${repository}`);
  const versions = readdirSync(dir)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(dir, v, 'model.onnx')))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw notFound(`model ${name} has no version with a model.onnx in ${dir}`);
  return { path: join(dir, versions[0]!, 'model.onnx'), version: versions[0]! };
}
