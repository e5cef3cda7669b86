// Message catalogues: one flat JSON object per language, keyed `prompt.<id>`, `step.<kind>`,
// `phase.<phase>`, `reason.<code>`, `next.<next>`, `ui.<label>`. A key missing from a language
// falls back to English, then to the key itself (so a gap is visible, never blank).

/** The text of `key` in `lang`, else English, else the key. */
export function translate(catalogues, lang, key) {
  const own = catalogues[lang];
  if (own && typeof own[key] === 'string') return own[key];
  const en = catalogues.en;
  if (en && typeof en[key] === 'string') return en[key];
  return key;
}

/** The keys of `required` that `catalogue` lacks. */
export function missingKeys(catalogue, required) {
  return required.filter((k) => typeof catalogue[k] !== 'string');
}
