/**
 * The voices one audio server serves, found from config alone: `.onnx` files with their Piper
 * `.onnx.json`, or folders holding such pairs.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceError, Status } from '@aigc/runtime';
import { VoiceConfigError } from './voice-config.js';

/** The repository's `models/` folder (services/audio/{src,dist}/ -> ../../../models). */
export function defaultModelsRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'models');
}

/** Voice `.onnx` paths named by `AUDIO_VOICES` (files, or folders scanned one level deep). */
export function findVoiceFiles(spec: string, modelsRoot = defaultModelsRoot()): string[] {
  const entries = spec.trim() ? spec.split(',').map((s) => s.trim()).filter(Boolean) : [join(modelsRoot, 'espeak-distilled')];
  const files: string[] = [];
  for (const entry of entries) {
    const path = resolve(entry);
    if (!existsSync(path)) throw new VoiceConfigError(`AUDIO_VOICES: ${path} does not exist`);
    if (statSync(path).isDirectory()) {
      const found = readdirSync(path)
        .filter((f) => f.endsWith('.onnx') && existsSync(join(path, `${f}.json`)))
        .sort()
        .map((f) => join(path, f));
      if (found.length === 0) throw new VoiceConfigError(`AUDIO_VOICES: ${path} holds no <voice>.onnx with its <voice>.onnx.json`);
      files.push(...found);
    } else {
      files.push(path);
    }
  }
  return files;
}

/** Looks a voice up by the request's `model` (empty: the default; aliases resolved); unknown names are NOT_FOUND. */
export function pickVoice<V>(voices: ReadonlyMap<string, V>, requested: string, defaultVoice: string, aliases: ReadonlyMap<string, string> = new Map()): V {
  const name = aliases.get(requested) ?? (requested || defaultVoice);
  const voice = voices.get(name);
  if (!voice) throw new ServiceError(Status.NOT_FOUND, `voice "${name}" is not served here; voices: ${[...voices.keys()].join(', ')}`);
  return voice;
}
