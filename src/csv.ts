import { mapInTurns } from './http/stream.ts';

/** A plain decimal number as this server writes amounts and ids (`-7`, `12.5`, `430892`). */
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * A cell a spreadsheet would run as a formula (OWASP "CSV injection"): one starting with `=`, `+`,
 * `-`, `@`, a tab or a carriage return. Such text (a licenseKey `=HYPERLINK(…)`, a customer name)
 * gets a leading `'`, so it shows as text. A well-formed number is left as it is: a negative
 * amount `-7` is data, not a formula, and must stay a number in the sheet.
 */
export function neutralizeFormula(text: string): string {
  return /^[=+\-@\t\r]/.test(text) && !NUMBER.test(text) ? `'${text}` : text;
}

/**
 * RFC 4180 CSV: a field with a comma, quote or line break is quoted, quotes doubled; text that a
 * spreadsheet would run as a formula is neutralized first. Every CSV the server writes goes through here.
 */
export function csvField(value: unknown): string {
  const text = neutralizeFormula(value === null || value === undefined ? '' : String(value));
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: unknown[]): string {
  return values.map(csvField).join(',') + '\r\n';
}

/**
 * The CSV lines of one batch of rows, yielding to the event loop every few hundred rows
 * (`mapInTurns`): a download shares the loop with Agora's requests, so building its text never
 * holds it long.
 */
export async function csvLines<T>(rows: readonly T[], values: (row: T, index: number) => unknown[]): Promise<string> {
  return (await mapInTurns(rows, (row, i) => csvLine(values(row, i)))).join('');
}

/** A CSV download: the whole text, or a stream of it (`batchedStream`). */
export function csvResponse(body: string | ReadableStream<Uint8Array>, filename: string): Response {
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${filename}"` },
  });
}

/** True when the client asks for CSV (and not JSON first). */
export function wantsCsv(accept: string | undefined): boolean {
  return accept !== undefined && /\btext\/csv\b/i.test(accept);
}
