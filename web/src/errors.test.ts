import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageInputError } from '../../src/io/raw-image.ts';
import { InputError } from '../../src/pipeline/encode.ts';
import { ModelDirError } from '../../src/pipeline/model-dir.ts';
import { classifyError, ERROR_ADVICE } from './errors.ts';

test('classifyError sorts library and browser failures into the kinds the page explains', () => {
  assert.equal(classifyError(new ModelDirError('m', ['pipeline.json is missing'])).kind, 'model');
  assert.equal(classifyError(new InputError('2 images but 1 mask')).kind, 'input');
  assert.equal(classifyError(new ImageInputError('x.png: not an image')).kind, 'input');
  assert.equal(classifyError(new RangeError('Array buffer allocation failed')).kind, 'oom');
  assert.equal(classifyError(new Error('GPU device lost (unknown): Out of memory')).kind, 'oom');
  assert.equal(classifyError(new DOMException('stop', 'AbortError')).kind, 'cancelled');
  const other = classifyError('plain string');
  assert.deepEqual(other, { kind: 'other', message: 'plain string' });
  assert.match(ERROR_ADVICE['no-webgpu'], /enable-unsafe-webgpu/);
});
