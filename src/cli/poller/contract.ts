import { Decimal } from '../../decimal.ts';
import { isObject, JsonNumber, parseExactJson, plainInteger, type ExactJson } from './exact-json.ts';

/**
 * The contract of Agora's answers (shared/spec/agora-callbacks.md) as checks on one answer. Each
 * broken rule is a violation with a stable code; a vendor's CI can match on the codes.
 */
export const VIOLATION_CODES = {
  timeout: 'no answer within the timeout, after every retry',
  network: 'the connection failed, after every retry',
  http_status: 'the answer is not HTTP 200',
  not_json: 'the body is not JSON',
  envelope: 'a field of the envelope is missing or of the wrong type',
  status: 'the answer reports a failure (usage/bill: status is not 0; license: status is not "success")',
  page_num: 'data.pageNum is not the pageNum asked for',
  has_next: 'hasNext does not agree with totalSize and limit',
  total_size: 'totalSize changed between pages, or the pages did not hold totalSize entries',
  page_size: 'a page holds more or fewer entries than totalSize and limit say',
  too_many_pages: 'hasNext is still true past the last page; the walk was stopped',
  project_id_type: 'projectId is not a string',
  empty_project_id: 'projectId is empty',
  duplicate_project: 'the same projectId appears twice in one window',
  amount_type: 'amount is not a JSON number (a string, say)',
  amount_exponent: 'amount is written in exponent notation, not as exact decimal digits',
  zero_amount: 'amount is zero',
  negative_amount: 'amount is negative',
  expire_date: 'license expireDate is neither a YYYY-MM-DD date nor "" (no license activated yet)',
  residue_count: 'license residueCount is not a decimal written as a string',
} as const;

export type ViolationCode = keyof typeof VIOLATION_CODES;

export interface Violation {
  code: ViolationCode;
  message: string;
  /** The page the answer was for (usage and bill). */
  pageNum?: number;
}

export interface Entry {
  projectId: string;
  /** Exactly the decimal the server wrote. */
  amount: Decimal;
  description: string;
}

export interface PageFacts {
  totalSize: number;
  /** null when it could not be read (already reported). */
  pageNum: number | null;
  hasNext: boolean;
  /** Entries whose projectId and amount could be read (also those with a violation of their own). */
  entries: Entry[];
  /** Length of `data.data`, valid entries or not. */
  count: number;
}

type Report = (code: ViolationCode, message: string) => void;

function parseBody(text: string, report: Report): ExactJson | undefined {
  try {
    return parseExactJson(text);
  } catch (err) {
    report('not_json', `the body is not JSON (${err instanceof Error ? err.message : String(err)}): ${preview(text)}`);
    return undefined;
  }
}

export const preview = (text: string) => (text.length > 120 ? `${JSON.stringify(text.slice(0, 120))}…` : JSON.stringify(text));

const typeName = (v: ExactJson | undefined) =>
  v === undefined ? 'missing' : v === null ? 'null' : v instanceof JsonNumber ? 'a number' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;

/**
 * Reads one usage or bill page and reports what breaks the contract on it alone. Rules that span
 * pages (hasNext, totalSize, duplicates) are the walk's, in `poller.ts`. Returns null when the page
 * cannot be read far enough to go on walking.
 */
export function readPagedAnswer(text: string, report: Report): PageFacts | null {
  const body = parseBody(text, report);
  if (body === undefined) return null;
  if (!isObject(body)) {
    report('envelope', `the body is ${typeName(body)}, not an object`);
    return null;
  }
  const status = body.status;
  if (!(status instanceof JsonNumber)) {
    report('envelope', `status is ${typeName(status)}, not a number`);
  } else if (plainInteger(status) !== 0) {
    report('status', `status is ${status.text}: ${typeof body.statusReason === 'string' ? body.statusReason : '(no statusReason)'}`);
    return null;
  }
  if (typeof body.statusReason !== 'string') report('envelope', `statusReason is ${typeName(body.statusReason)}, not a string`);
  const data = body.data;
  if (!isObject(data)) {
    report('envelope', `data is ${typeName(data)}, not an object`);
    return null;
  }
  const totalSize = plainInteger(data.totalSize);
  const pageNum = plainInteger(data.pageNum);
  const hasNext = data.hasNext;
  let readable = true;
  if (totalSize === null || totalSize < 0) {
    report('envelope', `data.totalSize is ${data.totalSize instanceof JsonNumber ? data.totalSize.text : typeName(data.totalSize)}, not a whole number ≥ 0`);
    readable = false;
  }
  if (pageNum === null) {
    report('envelope', `data.pageNum is ${data.pageNum instanceof JsonNumber ? data.pageNum.text : typeName(data.pageNum)}, not a whole number`);
  }
  if (typeof hasNext !== 'boolean') {
    report('envelope', `data.hasNext is ${typeName(hasNext)}, not a boolean`);
    readable = false;
  }
  const list = data.data;
  if (!Array.isArray(list)) {
    report('envelope', `data.data is ${typeName(list)}, not an array`);
    return null;
  }
  const entries: Entry[] = [];
  list.forEach((item, i) => {
    const at = `data.data[${i}]`;
    if (!isObject(item)) return report('envelope', `${at} is ${typeName(item)}, not an object`);
    const { projectId, amount, description } = item;
    if (typeof projectId !== 'string') {
      report('project_id_type', `${at}.projectId is ${projectId instanceof JsonNumber ? `the number ${projectId.text}` : typeName(projectId)}, not a string`);
    } else if (projectId.trim() === '') {
      report('empty_project_id', `${at}.projectId is empty`);
    }
    if (typeof description !== 'string') report('envelope', `${at}.description is ${typeName(description)}, not a string`);
    if (!(amount instanceof JsonNumber)) {
      report('amount_type', `${at}.amount is ${typeof amount === 'string' ? `the string ${JSON.stringify(amount)}` : typeName(amount)}, not a JSON number`);
      return;
    }
    if (!amount.isPlainDecimal) report('amount_exponent', `${at}.amount is written ${amount.text}, in exponent notation`);
    const value = new Decimal(amount.text);
    if (value.isZero()) report('zero_amount', `${at} (project ${String(projectId)}) has amount ${amount.text}`);
    else if (value.isNegative()) report('negative_amount', `${at} (project ${String(projectId)}) has amount ${amount.text}`);
    if (typeof projectId === 'string') entries.push({ projectId, amount: value, description: typeof description === 'string' ? description : '' });
  });
  if (!readable || totalSize === null || typeof hasNext !== 'boolean') return null;
  return { totalSize, pageNum, hasNext, entries, count: list.length };
}

export interface LicenseFacts {
  status: string;
  statusReason: string;
  expireDate: string | null;
  residueCount: Decimal | null;
  residueCountText: string | null;
}

const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

function isCalendarDay(text: string): boolean {
  const m = ISO_DAY.exec(text);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === text;
}

/** Reads a license answer: `{status: "success", statusReason, data: {expireDate, residueCount}}`. */
export function readLicenseAnswer(text: string, report: Report): LicenseFacts | null {
  const body = parseBody(text, report);
  if (body === undefined) return null;
  if (!isObject(body)) {
    report('envelope', `the body is ${typeName(body)}, not an object`);
    return null;
  }
  const { status, statusReason, data } = body;
  if (typeof status !== 'string') {
    report('envelope', `status is ${status instanceof JsonNumber ? `the number ${status.text}` : typeName(status)}, not a string`);
    return null;
  }
  if (typeof statusReason !== 'string') report('envelope', `statusReason is ${typeName(statusReason)}, not a string`);
  const reason = typeof statusReason === 'string' ? statusReason : '';
  if (status !== 'success') {
    report('status', status === 'failed' ? `status is "failed": ${reason || '(no statusReason)'}` : `status is ${JSON.stringify(status)}, not "success" or "failed"`);
    return { status, statusReason: reason, expireDate: null, residueCount: null, residueCountText: null };
  }
  if (!isObject(data)) {
    report('envelope', `data is ${typeName(data)}, not an object`);
    return null;
  }
  let expireDate: string | null = null;
  if (typeof data.expireDate !== 'string') report('envelope', `data.expireDate is ${typeName(data.expireDate)}, not a string`);
  // "": a customer with quota but no license activated yet has no expiry to show.
  else if (data.expireDate !== '' && !isCalendarDay(data.expireDate)) report('expire_date', `data.expireDate is ${JSON.stringify(data.expireDate)}, not a YYYY-MM-DD date (or "")`);
  else expireDate = data.expireDate;
  let residueCount: Decimal | null = null;
  let residueCountText: string | null = null;
  const residue = data.residueCount;
  if (typeof residue !== 'string') {
    report('residue_count', `data.residueCount is ${residue instanceof JsonNumber ? `the number ${residue.text}` : typeName(residue)}, not a string`);
  } else if (!/^-?\d+(\.\d+)?$/.test(residue)) {
    report('residue_count', `data.residueCount is ${JSON.stringify(residue)}, not decimal digits`);
  } else {
    residueCount = new Decimal(residue);
    residueCountText = residue;
  }
  return { status, statusReason: reason, expireDate, residueCount, residueCountText };
}
