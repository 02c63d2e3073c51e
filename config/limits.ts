// How big a config file may be: files over it are refused before they are read whole (a pool at every capacity
// limit takes about 1 MB of YAML).
export const MAX_CONFIG_BYTES = 4 << 20;
