/**
 * Whole-number command-line options (`--views 4`, `--seed 0`), checked the same way by every command that takes
 * them (dataset, occlude2d, occlude3d); the error is the command's own class, so callers and tests see the
 * command's error type.
 */

/**
 * `value` as an integer >= `min`, or `fallback` when the option was not given; anything else (a fraction, text,
 * a number past 2^53) throws `new ErrorClass('--NAME must be an integer >= MIN, got "VALUE"')`.
 * @example
 * const views = intOption('views', opts.views, 4, 1, DatasetError);
 */
export function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  ErrorClass: new (message: string) => Error,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min)
    throw new ErrorClass(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}
