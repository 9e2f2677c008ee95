const HEADER = 'Validation failed with the following errors:';

/** The lines of the validation error `synth` throws, without their indent; empty when it succeeds. */
export function validationErrors(synth: () => unknown): string[] {
  try {
    synth();
    return [];
  } catch (error) {
    const [header, ...lines] = (error as Error).message.split('\n');
    if (header !== HEADER) throw error;
    return lines.map((line) => line.trim());
  }
}
