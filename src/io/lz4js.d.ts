/** The functions of the untyped `lz4js` package used here (LZ4 frame decompression). */
declare module "lz4js" {
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
  /** Decodes a frame into dst (writes past its end are dropped); returns the decoded length. */
  export function decompressFrame(src: Uint8Array, dst: Uint8Array): number;
}
