// int8 (count(*), sums) arrives as a string from node-postgres and a bigint from PGlite.
// Every int8 this schema produces is a count far below 2^53, so both become a number.
export const INT8_OID = 20;
export const parseInt8 = (value: string) => Number(value);
