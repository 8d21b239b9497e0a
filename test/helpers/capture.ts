import { Writable } from 'node:stream';

/** A writable stream that keeps what the CLI writes, to assert on stdout and stderr. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}
