/** The model the hot-path server serves, by the name requests use. */
export const HOT_PATH_MODEL = 'bench-hot-path';
