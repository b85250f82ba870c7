// How the page writes numbers, times and ages: times in the exchange's own
// zone (Intl.DateTimeFormat with the symbol's IANA zone), ages in seconds,
// minutes, hours or days.

const formatters = new Map();

/** A cached Intl.DateTimeFormat for a zone and a set of options. */
function formatter(timeZone, options) {
  const key = `${timeZone}|${JSON.stringify(options)}`;
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", { timeZone, ...options });
    formatters.set(key, format);
  }
  return format;
}

/** `10:42:13 EST`: a time of day in the zone, with the zone's short name. */
export function timeInZone(ms, timeZone) {
  return formatter(timeZone, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  }).format(ms);
}

/** `Dec 1, 10:42:13 EST`: a date and time in the zone. */
export function dateTimeInZone(ms, timeZone) {
  return formatter(timeZone, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  }).format(ms);
}

/** The zone's offset from UTC at an instant, in seconds (east positive). */
export function zoneOffsetSeconds(ms, timeZone) {
  const parts = formatter(timeZone, {
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
    hourCycle: "h23",
  }).formatToParts(ms);
  const get = (type) => Number(parts.find((part) => part.type === type).value);
  const wall = Date.UTC(
    get("year"),
    get("month") - 1,
    get("day"),
    get("hour"),
    get("minute"),
    get("second"),
  );
  return Math.round((wall - Math.floor(ms / 1000) * 1000) / 1000);
}

/** `3 s`, `4 min`, `2 h`, `5 d`: how long ago, for a freshness label. */
export function age(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 36) return `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

/** A price: two decimals, four under 1. */
export function price(value) {
  if (value === null || value === undefined) return "—";
  const digits = Math.abs(value) < 1 ? 4 : 2;
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A signed change: `+1.23`, `−0.50`. */
export function signed(value, digits = 2) {
  if (value === null || value === undefined) return "—";
  const text = Math.abs(value).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return `${value < 0 ? "−" : "+"}${text}`;
}

/** A volume: whole numbers grouped, fractions (crypto) to 4 places. */
export function volume(value) {
  if (value === null || value === undefined) return "—";
  return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
}

/** A ratio as a percentage: 0.2534 → `25.3 %`. */
export function percent(ratio) {
  if (ratio === null || ratio === undefined) return "—";
  return `${(ratio * 100).toFixed(1)} %`;
}

/** `up` or `down` for a change, for its colour; nothing for zero. */
export function direction(value) {
  return value > 0 ? "up" : value < 0 ? "down" : "";
}
