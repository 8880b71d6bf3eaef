/** Consumer group suffix of the records consumer; also names it in dead-letter headers. */
export const RECORDS_GROUP = 'records';
