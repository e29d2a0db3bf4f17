// NHS number: ten digits, the last a modulus-11 check digit.
// See: https://www.datadictionary.nhs.uk/attributes/nhs_number.html

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';

/** The NHS number with spaces removed if it is valid, else undefined. */
export function validNhsNumber(text: string): string | undefined {
  const digits = text.replace(/\s+/g, '');
  if (!/^\d{10}$/.test(digits)) return undefined;
  let sum = 0;
  for (let i = 0; i < 9; i += 1) sum += Number(digits.charAt(i)) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return undefined;
  return (check === 11 ? 0 : check) === Number(digits.charAt(9)) ? digits : undefined;
}
