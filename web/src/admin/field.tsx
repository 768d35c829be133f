import type { FieldError } from '@pcf/sdk';
import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';
import { messageFor } from './conditions.js';

interface FieldProps {
  label: string;
  /** The server's field name (`email`), to show its field error here. */
  name: string;
  errors: readonly FieldError[];
  children(attributes: { name: string; 'aria-invalid'?: 'true'; 'aria-describedby'?: string }): ComponentChildren;
}

/** A labelled control with the server's error for its field, tied to it for screen readers. */
export function Field({ label, name, errors, children }: FieldProps) {
  const errorId = useId();
  const message = messageFor(errors, name);
  return (
    // The error is beside the label, not in it, so the control's name stays its label alone.
    <>
      <label>
        {label}
        {children({ name, ...(message ? { 'aria-invalid': 'true', 'aria-describedby': errorId } : {}) })}
      </label>
      {message && (
        <span id={errorId} class="field-error">
          {message}
        </span>
      )}
    </>
  );
}
