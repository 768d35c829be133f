import type { FieldMessages } from './field-errors.js';

const NAMES: Record<keyof FieldMessages, string> = { name: 'Name', type: 'Type', metadata: 'Metadata', data: 'Data' };

/** Why a form was refused, announced, naming the fields whose problems are shown under them. */
export function FormProblems({ problems, action }: { problems: FieldMessages; action: string }) {
  const fields = (Object.keys(problems) as (keyof FieldMessages)[]).filter((f) => problems[f]);
  if (fields.length === 0) return null;
  return (
    <div class="error" role="alert">
      Could not {action}: fix {fields.map((f) => NAMES[f]).join(', ')} first.
      <ul>
        {fields.map((f) => (
          <li key={f}>
            {NAMES[f]}: {problems[f]}
          </li>
        ))}
      </ul>
    </div>
  );
}
