import { Adwin, type AdwinJson, type AdwinOptions } from './adwin';
import { PageHinkley, type PageHinkleyJson, type PageHinkleyOptions } from './page-hinkley';

/** Which detector, with its options. */
export type DetectorConfig = ({ kind: 'adwin' } & AdwinOptions) | ({ kind: 'page-hinkley' } & PageHinkleyOptions);

/** Serialisable state of either detector. */
export type DetectorJson = AdwinJson | PageHinkleyJson;

/** What both detectors offer a caller that runs one on an error stream. */
export type DriftDetector = Adwin | PageHinkley;

export function createDetector(config: DetectorConfig): DriftDetector {
  if (config.kind === 'adwin') {
    const { kind: _kind, ...options } = config;
    return new Adwin(options);
  }
  const { kind: _kind, ...options } = config;
  return new PageHinkley(options);
}

export function detectorFromJson(json: DetectorJson): DriftDetector {
  return json.kind === 'adwin' ? Adwin.fromJSON(json) : PageHinkley.fromJSON(json);
}
