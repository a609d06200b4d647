/** The one function of the untyped `lz4js` package used here (LZ4 frame decompression). */
declare module "lz4js" {
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}
