/**
 * JSON for the API socket, with the semantics of the parser slirp4netns uses (parson
 * `json_parse_string`): the request is the first complete JSON value; leading whitespace is skipped
 * and whatever follows the value is ignored; an object with a repeated name is an error. The
 * grammar is RFC 8259's. Objects are Maps, so no name ("__proto__") is special.
 *
 * Also the incremental framer the server uses to know, byte by byte as a request arrives, where the
 * first object or array ends, without parsing it twice.
 */

/** A parsed JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A parsed JSON object: names in arrival order. */
export type JsonObject = Map<string, JsonValue>;

/** Deepest nesting accepted, as parson's PARSON_MAX_NESTING. */
export const MAX_NESTING = 2048;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

/** Thrown inside the parser only; the exported function turns it into null. */
class Invalid {}
const INVALID = new Invalid();

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Parser {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  skipWhitespace(): void {
    while (this.pos < this.bytes.length && isWhitespace(this.bytes[this.pos])) this.pos++;
  }

  expect(byte: number): void {
    if (this.bytes[this.pos] !== byte) throw INVALID;
    this.pos++;
  }

  /** A value inside `depth` objects and arrays. */
  value(depth: number): JsonValue {
    this.skipWhitespace();
    const byte = this.bytes[this.pos];
    switch (byte) {
      case OPEN_BRACE:
        if (depth >= MAX_NESTING) throw INVALID;
        return this.object(depth + 1);
      case OPEN_BRACKET:
        if (depth >= MAX_NESTING) throw INVALID;
        return this.array(depth + 1);
      case QUOTE:
        return this.string();
      case 0x74: // t
        return this.literal("true", true);
      case 0x66: // f
        return this.literal("false", false);
      case 0x6e: // n
        return this.literal("null", null);
      default:
        if (byte === 0x2d || isDigit(byte)) return this.number();
        throw INVALID;
    }
  }

  literal<T extends JsonValue>(text: string, value: T): T {
    for (let i = 0; i < text.length; i++) {
      if (this.bytes[this.pos + i] !== text.charCodeAt(i)) throw INVALID;
    }
    this.pos += text.length;
    return value;
  }

  object(depth: number): JsonObject {
    this.pos++; // {
    const object: JsonObject = new Map();
    this.skipWhitespace();
    if (this.bytes[this.pos] === CLOSE_BRACE) {
      this.pos++;
      return object;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.bytes[this.pos] !== QUOTE) throw INVALID;
      const name = this.string();
      if (object.has(name)) throw INVALID; // parson: json_object_add fails on a repeated name
      this.skipWhitespace();
      this.expect(COLON);
      object.set(name, this.value(depth));
      this.skipWhitespace();
      if (this.bytes[this.pos] === COMMA) {
        this.pos++;
        continue;
      }
      this.expect(CLOSE_BRACE);
      return object;
    }
  }

  array(depth: number): JsonValue[] {
    this.pos++; // [
    const array: JsonValue[] = [];
    this.skipWhitespace();
    if (this.bytes[this.pos] === CLOSE_BRACKET) {
      this.pos++;
      return array;
    }
    for (;;) {
      array.push(this.value(depth));
      this.skipWhitespace();
      if (this.bytes[this.pos] === COMMA) {
        this.pos++;
        continue;
      }
      this.expect(CLOSE_BRACKET);
      return array;
    }
  }

  /** RFC 8259 §7: no raw control characters; escapes including surrogate pairs; valid UTF-8. */
  string(): string {
    const bytes = this.bytes;
    this.pos++; // opening quote
    let text = "";
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= bytes.length) throw INVALID;
      const byte = bytes[this.pos];
      if (byte === QUOTE) {
        text += this.decode(runStart, this.pos);
        this.pos++;
        return text;
      }
      if (byte < 0x20) throw INVALID;
      if (byte !== BACKSLASH) {
        this.pos++;
        continue;
      }
      text += this.decode(runStart, this.pos);
      this.pos++;
      const escape = bytes[this.pos++];
      switch (escape) {
        case QUOTE:
          text += '"';
          break;
        case BACKSLASH:
          text += "\\";
          break;
        case 0x2f:
          text += "/";
          break;
        case 0x62:
          text += "\b";
          break;
        case 0x66:
          text += "\f";
          break;
        case 0x6e:
          text += "\n";
          break;
        case 0x72:
          text += "\r";
          break;
        case 0x74:
          text += "\t";
          break;
        case 0x75: // u: four hex digits; JS strings hold the code units, pairs or not
          text += String.fromCharCode(this.hex4());
          break;
        default:
          throw INVALID;
      }
      runStart = this.pos;
    }
  }

  hex4(): number {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const digit = parseInt(String.fromCharCode(this.bytes[this.pos++] ?? 0), 16);
      if (Number.isNaN(digit)) throw INVALID;
      value = value * 16 + digit;
    }
    return value;
  }

  decode(start: number, end: number): string {
    if (start === end) return "";
    try {
      return utf8.decode(this.bytes.subarray(start, end));
    } catch {
      throw INVALID;
    }
  }

  /** RFC 8259 §6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
  number(): number {
    const bytes = this.bytes;
    const start = this.pos;
    if (bytes[this.pos] === 0x2d) this.pos++;
    if (bytes[this.pos] === 0x30) {
      this.pos++;
    } else {
      if (!isDigit(bytes[this.pos])) throw INVALID;
      while (isDigit(bytes[this.pos])) this.pos++;
    }
    if (bytes[this.pos] === 0x2e) {
      this.pos++;
      if (!isDigit(bytes[this.pos])) throw INVALID;
      while (isDigit(bytes[this.pos])) this.pos++;
    }
    if (bytes[this.pos] === 0x65 || bytes[this.pos] === 0x45) {
      this.pos++;
      if (bytes[this.pos] === 0x2b || bytes[this.pos] === 0x2d) this.pos++;
      if (!isDigit(bytes[this.pos])) throw INVALID;
      while (isDigit(bytes[this.pos])) this.pos++;
    }
    return Number(String.fromCharCode(...bytes.subarray(start, this.pos)));
  }
}

/**
 * Parses the first JSON value in `bytes`, after optional whitespace; bytes after it are ignored.
 * Returns the value and the offset just past it, or null when there is no valid first value.
 *
 * @example
 * ```ts
 * import { parseFirstJsonValue } from "./json.ts";
 * const bytes = new TextEncoder().encode('{"execute":"list_hostfwd"}\n trailing');
 * parseFirstJsonValue(bytes)?.end; // 26
 * parseFirstJsonValue(new TextEncoder().encode('{"a":1,"a":2}')); // null: repeated name
 * ```
 */
export function parseFirstJsonValue(bytes: Uint8Array): { value: JsonValue; end: number } | null {
  const parser = new Parser(bytes);
  try {
    const value = parser.value(0);
    return { value, end: parser.pos };
  } catch (error) {
    if (error === INVALID) return null;
    throw error;
  }
}

/**
 * Finds, as bytes arrive, where the first top-level object or array ends: it tracks only nesting
 * and strings, so it costs one pass over the bytes in total however they are split. It does not
 * validate (the parser does, once); a first value that is not an object or array never completes
 * here, so its request ends at end of input, at the size limit or at the deadline instead.
 *
 * @example
 * ```ts
 * import { JsonFramer } from "./json.ts";
 * const framer = new JsonFramer();
 * const bytes = new TextEncoder().encode(' {"a":"}"} rest');
 * framer.scan(bytes, 5); // -1: not complete yet
 * framer.scan(bytes, bytes.length); // 10: the value ends before " rest"
 * ```
 */
export class JsonFramer {
  /** The next byte to look at. */
  #pos = 0;
  #depth = 0;
  #started = false;
  #inString = false;
  #escaped = false;
  /** Set once the first non-whitespace byte is not `{` or `[`: never completes. */
  #scalar = false;
  #end = -1;

  /**
   * Scans `bytes[…, length)` (the same buffer, growing, on every call). Returns the offset just
   * past the first complete object or array, or -1 while there is none.
   */
  scan(bytes: Uint8Array, length: number): number {
    if (this.#end >= 0 || this.#scalar) return this.#end;
    for (; this.#pos < length; this.#pos++) {
      const byte = bytes[this.#pos];
      if (!this.#started) {
        if (isWhitespace(byte)) continue;
        if (byte !== OPEN_BRACE && byte !== OPEN_BRACKET) {
          this.#scalar = true;
          return -1;
        }
        this.#started = true;
        this.#depth = 1;
        continue;
      }
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (byte === BACKSLASH) this.#escaped = true;
        else if (byte === QUOTE) this.#inString = false;
        continue;
      }
      if (byte === QUOTE) {
        this.#inString = true;
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        this.#depth++;
      } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        if (--this.#depth === 0) {
          this.#end = this.#pos + 1;
          return this.#end;
        }
      }
    }
    return -1;
  }
}
