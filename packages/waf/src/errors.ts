import { TriplaneError } from '@triplane/kernel';

/** Stable error code for every fault in a SecLang configuration (parse or compile). */
export const WAF_CONFIG = 'TRIPLANE_ERR_WAF_CONFIG';

export interface SourcePos {
  file: string;
  line: number;
}

/** A configuration error that names the file, the line and the reason. */
export function configError(pos: SourcePos, reason: string): TriplaneError {
  return new TriplaneError(WAF_CONFIG, `${pos.file}:${pos.line}: ${reason}`, { file: pos.file, line: pos.line, reason });
}
