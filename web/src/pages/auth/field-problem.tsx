/** The error shown under a field, named by `${id}-error` for the input's `aria-describedby`. */
export function FieldProblem({ id, problem }: { id: string; problem: string | undefined }) {
  if (!problem) return null;
  return (
    <span class="field-error" id={`${id}-error`}>
      {problem}
    </span>
  );
}
