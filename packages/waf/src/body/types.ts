/** A named value as ModSecurity collections hold them (latin1 byte strings). */
export interface Arg {
  name: string;
  value: string;
}
