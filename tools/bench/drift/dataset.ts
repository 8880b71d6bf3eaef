import { closeSync, openSync, writeSync } from 'node:fs';
import { Prng } from '@keel/ml-stats';

/** Adult-like schema: 6 numeric and 8 categorical feature columns, in file order. */
export const NUMERIC = ['age', 'fnlwgt', 'education_num', 'capital_gain', 'capital_loss', 'hours_per_week'] as const;
export const CATEGORICAL = [
  'workclass',
  'education',
  'marital_status',
  'occupation',
  'relationship',
  'race',
  'sex',
  'native_country',
] as const;
export const COLUMNS = [...NUMERIC, ...CATEGORICAL];

type Weighted = readonly [string, number][];
const levels = (names: string[], decay: number): Weighted => names.map((n, i) => [n, decay ** i]);

const CATEGORIES: Record<(typeof CATEGORICAL)[number], Weighted> = {
  workclass: levels(
    ['Private', 'Self-emp-not-inc', 'Local-gov', 'State-gov', 'Self-emp-inc', 'Federal-gov', 'Without-pay'],
    0.45,
  ),
  education: levels(
    [
      'HS-grad',
      'Some-college',
      'Bachelors',
      'Masters',
      'Assoc-voc',
      '11th',
      'Assoc-acdm',
      '10th',
      '7th-8th',
      'Prof-school',
      '9th',
      '12th',
      'Doctorate',
      '5th-6th',
      '1st-4th',
      'Preschool',
    ],
    0.75,
  ),
  marital_status: levels(
    ['Married-civ-spouse', 'Never-married', 'Divorced', 'Separated', 'Widowed', 'Married-spouse-absent'],
    0.5,
  ),
  occupation: levels(
    [
      'Prof-specialty',
      'Craft-repair',
      'Exec-managerial',
      'Adm-clerical',
      'Sales',
      'Other-service',
      'Machine-op-inspct',
      'Transport-moving',
      'Handlers-cleaners',
      'Farming-fishing',
      'Tech-support',
      'Protective-serv',
      'Priv-house-serv',
      'Armed-Forces',
    ],
    0.85,
  ),
  relationship: levels(['Husband', 'Not-in-family', 'Own-child', 'Unmarried', 'Wife', 'Other-relative'], 0.55),
  race: levels(['White', 'Black', 'Asian-Pac-Islander', 'Amer-Indian-Eskimo', 'Other'], 0.12),
  sex: [
    ['Male', 0.67],
    ['Female', 0.33],
  ],
  native_country: levels(
    [
      'United-States',
      'Mexico',
      'Philippines',
      'Germany',
      'Canada',
      'Puerto-Rico',
      'El-Salvador',
      'India',
      'Cuba',
      'England',
      'China',
      'Jamaica',
      'South',
      'Italy',
      'Dominican-Republic',
      'Vietnam',
      'Guatemala',
      'Japan',
      'Poland',
      'Columbia',
    ],
    0.5,
  ),
};

function sampler(weights: Weighted, rng: Prng, tilt = 0): () => string {
  // `tilt` moves probability mass towards later categories: the "shift" of the current window.
  const w = weights.map(([, p], i) => p * Math.exp(tilt * i));
  const total = w.reduce((a, b) => a + b, 0);
  const cum = Float64Array.from(w.map((_, i) => w.slice(0, i + 1).reduce((a, b) => a + b, 0) / total));
  return () => {
    const u = rng.next();
    let i = 0;
    while (cum[i] < u && i < cum.length - 1) i++;
    return weights[i][0];
  };
}

/**
 * Writes `rows` deterministic Adult-like rows as CSV (header + rows). `shifted` drifts age (+3 years), hours per week
 * (×1.1), occupation and education (tilted mix) and capital gain (more non-zero), leaving the other 9 columns alike.
 */
export function writeDataset(path: string, rows: number, seed: number, shifted: boolean): void {
  const rng = new Prng(seed);
  const cat = Object.fromEntries(
    CATEGORICAL.map((c) => [
      c,
      sampler(CATEGORIES[c], rng, shifted && (c === 'occupation' || c === 'education') ? 0.08 : 0),
    ]),
  ) as Record<(typeof CATEGORICAL)[number], () => string>;
  const fd = openSync(path, 'w');
  writeSync(fd, COLUMNS.join(',') + '\n');
  const batch: string[] = [];
  for (let r = 0; r < rows; r++) {
    const age = Math.round(Math.min(90, Math.max(17, 38.6 + (shifted ? 3 : 0) + 13.6 * rng.normal())));
    const fnlwgt = Math.round(Math.exp(12.0 + 0.5 * rng.normal()));
    const educationNum = 1 + Math.min(15, Math.max(0, Math.round(9 + 2.6 * rng.normal())));
    const gain = rng.next() < (shifted ? 0.12 : 0.08) ? Math.round(Math.exp(8 + rng.normal())) : 0;
    const loss = rng.next() < 0.05 ? Math.round(1870 + 360 * rng.normal()) : 0;
    const hours = Math.round(Math.min(99, Math.max(1, (40.4 + 12.3 * rng.normal()) * (shifted ? 1.1 : 1))));
    const line = [age, fnlwgt, educationNum, gain, loss, hours, ...CATEGORICAL.map((c) => cat[c]())].join(',');
    batch.push(line);
    if (batch.length === 10_000) {
      writeSync(fd, batch.join('\n') + '\n');
      batch.length = 0;
    }
  }
  if (batch.length) writeSync(fd, batch.join('\n') + '\n');
  closeSync(fd);
}
