/**
 * Expected contents of a folder of occluded views, for the occlude2d / occlude3d / dataset tests. Written out here
 * from the documented layout (docs/occlusion-data.md), not taken from the writers, so a naming change in them fails
 * the tests.
 */

/** Digits of a view's number in its file names (000, 001, ...). */
const VIEW_DIGITS = 3;

/**
 * The sorted file names of `count` views (`NNN.png` and `NNN_mask.png` each) plus `extra` files, as
 * `(await readdir(dir)).sort()` lists them.
 * @example
 * viewFileNames(2, 'transforms.json'); // ['000.png', '000_mask.png', '001.png', '001_mask.png', 'transforms.json']
 */
export function viewFileNames(count: number, ...extra: string[]): string[] {
  const names = [...extra];
  for (let i = 0; i < count; i++) {
    const stem = String(i).padStart(VIEW_DIGITS, '0');
    names.push(`${stem}.png`, `${stem}_mask.png`);
  }
  return names.sort();
}
