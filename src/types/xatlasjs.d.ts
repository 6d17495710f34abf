// The xatlasjs package ships no types; src/representations/uv-atlas.ts types the module it uses.
declare module 'xatlasjs/dist/node/xatlas.js' {
  const createXAtlasModule: (args: Record<string, unknown>) => Promise<unknown>;
  export default createXAtlasModule;
}
