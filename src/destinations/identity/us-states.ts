/** US states, DC and territories: full name (lowercase, letters only) → USPS code (lowercase). */
const STATES: Record<string, string> = {
  alabama: 'al', alaska: 'ak', arizona: 'az', arkansas: 'ar', california: 'ca', colorado: 'co', connecticut: 'ct',
  delaware: 'de', districtofcolumbia: 'dc', washingtondc: 'dc', florida: 'fl', georgia: 'ga', hawaii: 'hi', idaho: 'id',
  illinois: 'il', indiana: 'in', iowa: 'ia', kansas: 'ks', kentucky: 'ky', louisiana: 'la', maine: 'me', maryland: 'md',
  massachusetts: 'ma', michigan: 'mi', minnesota: 'mn', mississippi: 'ms', missouri: 'mo', montana: 'mt', nebraska: 'ne',
  nevada: 'nv', newhampshire: 'nh', newjersey: 'nj', newmexico: 'nm', newyork: 'ny', northcarolina: 'nc',
  northdakota: 'nd', ohio: 'oh', oklahoma: 'ok', oregon: 'or', pennsylvania: 'pa', rhodeisland: 'ri',
  southcarolina: 'sc', southdakota: 'sd', tennessee: 'tn', texas: 'tx', utah: 'ut', vermont: 'vt', virginia: 'va',
  washington: 'wa', westvirginia: 'wv', wisconsin: 'wi', wyoming: 'wy',
  americansamoa: 'as', guam: 'gu', northernmarianaislands: 'mp', puertorico: 'pr', usvirginislands: 'vi',
  virginislands: 'vi', unitedstatesvirginislands: 'vi',
};

const CODES = new Set(Object.values(STATES));
// A Map for lookups: `constructor` is not a state.
const BY_NAME = new Map(Object.entries(STATES));

/** `ca` / `california` / `California` → `ca`; undefined when it is not a US state. */
export function usStateCode(lettersLower: string): string | undefined {
  if (lettersLower.length === 2) return CODES.has(lettersLower) ? lettersLower : undefined;
  return BY_NAME.get(lettersLower);
}
