import type { User } from '@pcf/sdk';
import { useId, useState } from 'preact/hooks';
import { ErrorMessage, Loading } from '../ui/feedback.js';
import { userLabel, useAllUsers } from './use-users.js';

interface UserPickerProps {
  /** The select's label, e.g. "Transfer to". */
  label: string;
  value: string | undefined;
  onChange(id: string | undefined): void;
  /** Users who may not be chosen (the user being deleted). */
  exclude?: readonly string[];
  /** The first option, standing for no user (e.g. "Me"); without it a user must be chosen. */
  noneLabel?: string;
}

/**
 * A searchable select of users: a search box narrowing a native select, so it works with
 * the keyboard and screen readers as any select does.
 */
export function UserPicker({ label, value, onChange, exclude = [], noneLabel }: UserPickerProps) {
  const { users, truncated, error } = useAllUsers();
  const [search, setSearch] = useState('');
  const hintId = useId();
  if (error !== undefined) return <ErrorMessage error={error} title="The users could not be loaded." />;
  if (!users) return <Loading label="Loading users…" />;

  const needle = search.trim().toLowerCase();
  const choices = users.filter((u) => !exclude.includes(u.id) && (!needle || userLabel(u).toLowerCase().includes(needle)));
  // The chosen user stays an option while the search hides it, or the select would show another.
  const chosen = users.find((u) => u.id === value);
  const options: User[] = chosen && !choices.includes(chosen) ? [chosen, ...choices] : choices;

  return (
    <div class="user-picker">
      <label>
        Search users for “{label}”
        <input type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-describedby={hintId} />
      </label>
      <span id={hintId} class="hint">
        {choices.length} of {users.length - exclude.filter((id) => users.some((u) => u.id === id)).length} users
        {truncated ? ' (only the first users are loaded: search by name or email)' : ''}
      </span>
      <label>
        {label}
        <select value={value ?? ''} onChange={(e) => onChange(e.currentTarget.value || undefined)}>
          {noneLabel !== undefined ? <option value="">{noneLabel}</option> : <option value="">Choose a user…</option>}
          {options.map((user) => (
            <option key={user.id} value={user.id}>
              {userLabel(user)}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}
