import { AppError } from '../errors.ts';

/** Agora: a licenseKey is "less than 64 bytes". */
export const MAX_LICENSE_KEY_BYTES = 63;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `key` is not a licenseKey, or null when it is one: 1 to 63 bytes of UTF-8 text, no control
 * characters, no white space at either end (a whitelist file is trimmed line by line, so a key with
 * such spaces could never match its own whitelist entry). Case-sensitive: nothing is normalised.
 */
export function licenseKeyProblem(key: string): string | null {
  if (key.length === 0) return 'licenseKey is empty';
  if (LONE_SURROGATE.test(key)) return 'licenseKey is not valid text';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) return 'licenseKey has a control character';
  if (/^\s|\s$/.test(key)) return 'licenseKey begins or ends with white space';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_LICENSE_KEY_BYTES) return `licenseKey is ${bytes} bytes of UTF-8; it must be under 64`;
  return null;
}

export function checkLicenseKey(key: string): string {
  const problem = licenseKeyProblem(key);
  if (problem) throw new AppError('invalid_license_key', problem);
  return key;
}
