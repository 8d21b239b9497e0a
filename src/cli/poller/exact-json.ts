/**
 * A JSON reader that keeps every number as the text it was written with, so an amount is checked
 * and added up as the exact decimal the server wrote, never through a JavaScript float. Strings,
 * booleans, null, arrays and objects come out as `JSON.parse` gives them.
 */

/** A JSON number token, exactly as written (`12.000001`, `1e3`, `-0`). */
export class JsonNumber {
  constructor(readonly text: string) {}
  /** Plain decimal digits: no exponent. */
  get isPlainDecimal(): boolean {
    return !/[eE]/.test(this.text);
  }
  toString(): string {
    return this.text;
  }
}

export type ExactJson = null | boolean | string | JsonNumber | ExactJson[] | { [key: string]: ExactJson };

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// A JSON string: any character but a quote, a backslash or a control character, or an escape.
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SPACE = /[ \t\n\r]*/y;

/** Parses JSON text (RFC 8259) with numbers kept as `JsonNumber`. Throws `JsonSyntaxError`. */
export function parseExactJson(text: string): ExactJson {
  let pos = 0;

  const skip = () => {
    SPACE.lastIndex = pos;
    SPACE.exec(text);
    pos = SPACE.lastIndex;
  };
  const fail = (what: string): never => {
    throw new JsonSyntaxError(pos >= text.length ? `unexpected end of JSON, expected ${what}` : `unexpected ${JSON.stringify(text[pos])}, expected ${what}`, pos);
  };
  const literal = (word: string, value: ExactJson): ExactJson => {
    if (text.startsWith(word, pos)) {
      pos += word.length;
      return value;
    }
    return fail('a JSON value');
  };
  const string = (): string => {
    STRING.lastIndex = pos;
    const m = STRING.exec(text);
    if (!m) return fail('a string');
    pos = STRING.lastIndex;
    // The token is valid JSON on its own; JSON.parse decodes its escapes.
    const decoded: unknown = JSON.parse(m[0]);
    return typeof decoded === 'string' ? decoded : fail('a string');
  };

  // Depth-first with an explicit check on depth: answers from a server are shallow, a hostile one
  // must not overflow the stack.
  let depth = 0;
  const value = (): ExactJson => {
    skip();
    const ch = text[pos];
    switch (ch) {
      case '{': {
        if (++depth > 256) fail('less nesting');
        pos++;
        const obj: { [key: string]: ExactJson } = {};
        skip();
        if (text[pos] === '}') {
          pos++;
          depth--;
          return obj;
        }
        for (;;) {
          skip();
          if (text[pos] !== '"') fail('a key');
          const key = string();
          skip();
          if (text[pos] !== ':') fail('":"');
          pos++;
          const v = value();
          // A key given twice keeps its last value, as JSON.parse does; define it so that
          // "__proto__" is an ordinary key.
          Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
          skip();
          if (text[pos] === ',') {
            pos++;
            continue;
          }
          if (text[pos] === '}') {
            pos++;
            depth--;
            return obj;
          }
          fail('"," or "}"');
        }
      }
      case '[': {
        if (++depth > 256) fail('less nesting');
        pos++;
        const arr: ExactJson[] = [];
        skip();
        if (text[pos] === ']') {
          pos++;
          depth--;
          return arr;
        }
        for (;;) {
          arr.push(value());
          skip();
          if (text[pos] === ',') {
            pos++;
            continue;
          }
          if (text[pos] === ']') {
            pos++;
            depth--;
            return arr;
          }
          fail('"," or "]"');
        }
      }
      case '"':
        return string();
      case 't':
        return literal('true', true);
      case 'f':
        return literal('false', false);
      case 'n':
        return literal('null', null);
      default: {
        NUMBER.lastIndex = pos;
        const m = NUMBER.exec(text);
        if (!m) return fail('a JSON value');
        pos = NUMBER.lastIndex;
        return new JsonNumber(m[0]);
      }
    }
  };

  const result = value();
  skip();
  if (pos !== text.length) fail('the end of the JSON text');
  return result;
}

export const isObject = (v: ExactJson | undefined): v is { [key: string]: ExactJson } =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber);

/** A number that is a whole number written without a fraction or exponent, as a JS number. */
export function plainInteger(v: ExactJson | undefined): number | null {
  if (!(v instanceof JsonNumber) || !/^-?\d+$/.test(v.text)) return null;
  const n = Number(v.text);
  return Number.isSafeInteger(n) ? n : null;
}
