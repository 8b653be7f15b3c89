/** Paths of the test models made by `tools/test-models/make_test_models.py`. */
import { fileURLToPath } from 'node:url';

/** `libs/serving/test/models`: the test model repository. */
export const TEST_MODELS = fileURLToPath(new URL('../../test/models/', import.meta.url));

/** Path of `<name>/<version>/model.onnx` in the test repository. */
export function testModelPath(name: string, version = 1): string {
  return `${TEST_MODELS}${name}/${version}/model.onnx`;
}
