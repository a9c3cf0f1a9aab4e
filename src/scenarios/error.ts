/**
 * Bad input, said clearly: what was being read (a file, the command line), a
 * heading, and one line per problem naming the field, the value and what was
 * expected. The CLI prints it and exits 2, without a stack trace.
 */
export class ScenarioError extends Error {
  constructor(
    readonly issues: string[],
    source: string,
    heading = 'invalid scenario',
  ) {
    super(`${heading}${source ? ` (${source})` : ''}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ScenarioError';
  }
}
