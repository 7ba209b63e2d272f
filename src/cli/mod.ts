/**
 * The slirp4netns-compatible command line: parsing into a `Config`, the help, version and banner
 * texts, and the generic GNU getopt_long scanner underneath.
 */
export {
  type HostChecks,
  parseCommandLine,
  type ParseOutcome,
  type ParseSettings,
} from "./options.ts";
export { LONG_OPTIONS, MTU_MAX, MTU_MIN } from "./options.ts";
export { bannerLines } from "./banner.ts";
export { usageText, versionText } from "./usage.ts";
export { SLIRP_CONFIG_VERSION_MAX, VERSION } from "./version.ts";
export {
  type ArgumentKind,
  type GetoptError,
  getoptLong,
  type GetoptResult,
  type GetoptSettings,
  type LongOption,
  type ParsedOption,
} from "./getopt.ts";
