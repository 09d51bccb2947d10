import * as hdr from "hdr-histogram-js";

/** Latency in microseconds, 1 µs .. 60 s, 3 significant digits. */
export function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Milliseconds with two decimals. */
export function summarize(h: hdr.Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}
