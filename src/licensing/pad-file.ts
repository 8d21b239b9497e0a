import { AppError } from '../errors.ts';
import { licenseKeyProblem } from './license-key.ts';

/** The largest whitelist file accepted (about 80,000 keys of 12 characters). */
export const MAX_PAD_FILE_BYTES = 1024 * 1024;

export interface PadFile {
  /** Distinct keys, in the order of their first line. */
  keys: string[];
  /** Lines that repeated a key already listed above them in the file. */
  repeated: number;
}

/**
 * A whitelist upload: UTF-8 text, one licenseKey per line. Line ends may be LF, CRLF or CR; each line
 * is trimmed; blank lines are skipped; a key repeated in the file counts once. The whole file is
 * refused, naming the first bad line, when any line is not a valid licenseKey — so a refused upload
 * changes nothing. Empty files, binary files (a NUL byte or invalid UTF-8) and files over
 * MAX_PAD_FILE_BYTES are refused too.
 */
export function parsePadFile(bytes: Uint8Array): PadFile {
  if (bytes.length > MAX_PAD_FILE_BYTES) {
    throw new AppError('payload_too_large', `The file is ${bytes.length} bytes; at most ${MAX_PAD_FILE_BYTES} bytes are accepted`);
  }
  if (bytes.length === 0) throw new AppError('invalid_upload', 'The file is empty');
  if (bytes.includes(0)) throw new AppError('invalid_upload', 'The file is binary (it has a NUL byte); send a text file, one licenseKey per line');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new AppError('invalid_upload', 'The file is not UTF-8 text; send a text file, one licenseKey per line');
  }
  const seen = new Set<string>();
  const keys: string[] = [];
  let repeated = 0;
  const lines = text.split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const key = lines[i]!.trim();
    if (key === '') continue;
    const problem = licenseKeyProblem(key);
    if (problem) throw new AppError('invalid_upload', `Line ${i + 1}: ${problem}; nothing was added`, { line: i + 1 });
    if (seen.has(key)) {
      repeated++;
      continue;
    }
    seen.add(key);
    keys.push(key);
  }
  if (keys.length === 0) throw new AppError('invalid_upload', 'The file has no licenseKey (only blank lines)');
  return { keys, repeated };
}
