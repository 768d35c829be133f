import type { User } from '@pcf/sdk';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ErrorMessage, Loading } from '../ui/feedback.js';
import { findUser, looksLikeEmail, userLabel, useAllUsers } from './use-users.js';

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

/** The outcome of looking up what was typed, beyond the users loaded. */
type Lookup = { state: 'looking'; text: string } | { state: 'none'; text: string } | { state: 'excluded'; text: string } | { state: 'failed'; error: unknown };

/**
 * A searchable select of users: a search box narrowing a native select, so it works with
 * the keyboard and screen readers as any select does. Past the users loaded (PICKER_LIMIT),
 * a pasted user id or an exact email is looked up on the server, so nobody is out of reach.
 */
export function UserPicker({ label, value, onChange, exclude = [], noneLabel }: UserPickerProps) {
  const { users, truncated, rest, error } = useAllUsers();
  const [search, setSearch] = useState('');
  /** Users found by id or email that were not among those loaded. */
  const [found, setFound] = useState<User[]>([]);
  const [lookup, setLookup] = useState<Lookup>();
  const lookups = useRef<AbortController | undefined>(undefined);
  const hintId = useId();
  useEffect(() => () => lookups.current?.abort(), []);
  if (error !== undefined) return <ErrorMessage error={error} title="The users could not be loaded." />;
  if (!users) return <Loading label="Loading users…" />;

  const known = [...users, ...found.filter((f) => !users.some((u) => u.id === f.id))];
  const typed = search.trim();
  const needle = typed.toLowerCase();
  const matches = (u: User) => !needle || u.id === typed || userLabel(u).toLowerCase().includes(needle);
  const choices = known.filter((u) => !exclude.includes(u.id) && matches(u));
  // The chosen user stays an option while the search hides it, or the select would show another.
  const chosen = known.find((u) => u.id === value);
  const options: User[] = chosen && !choices.includes(chosen) ? [chosen, ...choices] : choices;
  // What was typed names someone exactly, by id or email: nothing to look up.
  const exact = known.find((u) => u.id === typed || u.email.toLowerCase() === needle);
  const canLookUp = truncated && typed !== '' && !exact && lookup?.state !== 'looking';

  const lookUp = async () => {
    lookups.current?.abort();
    const controller = new AbortController();
    lookups.current = controller;
    const text = typed;
    setLookup({ state: 'looking', text });
    try {
      const user = await findUser(text, rest, controller.signal);
      if (controller.signal.aborted) return;
      if (!user) return setLookup({ state: 'none', text });
      if (exclude.includes(user.id)) return setLookup({ state: 'excluded', text });
      setFound((previous) => (previous.some((f) => f.id === user.id) ? previous : [...previous, user]));
      setLookup(undefined);
      onChange(user.id);
    } catch (e) {
      if (!controller.signal.aborted) setLookup({ state: 'failed', error: e });
    }
  };

  const total = users.length - exclude.filter((id) => users.some((u) => u.id === id)).length;
  return (
    <div class="user-picker">
      <label>
        Search users for “{label}”
        <input
          type="search"
          value={search}
          onInput={(e) => {
            setSearch(e.currentTarget.value);
            if (lookup?.state !== 'looking') setLookup(undefined);
          }}
          onKeyDown={(e) => {
            // Enter picks the user typed exactly, or looks them up; it never submits the form around the picker.
            if (e.key !== 'Enter') return;
            e.preventDefault();
            if (exact && !exclude.includes(exact.id)) onChange(exact.id);
            else if (canLookUp) void lookUp();
          }}
          aria-describedby={hintId}
        />
      </label>
      <span id={hintId} class="hint">
        {truncated
          ? `${choices.length} of the first ${total} users shown. There are more: type an exact email or a user id to pick someone else.`
          : `${choices.length} of ${total} users`}
      </span>
      {canLookUp && (
        <button type="button" onClick={lookUp}>
          Find {looksLikeEmail(typed) ? 'the user with this email' : 'the user with this id'}
        </button>
      )}
      <span role="status" class="hint">
        {lookup?.state === 'looking'
          ? `Looking for “${lookup.text}”…`
          : lookup?.state === 'none'
            ? `No user has ${looksLikeEmail(lookup.text) ? 'the email' : 'the id'} “${lookup.text}”.`
            : lookup?.state === 'excluded'
              ? `“${lookup.text}” cannot be chosen here.`
              : ''}
      </span>
      {lookup?.state === 'failed' && <ErrorMessage error={lookup.error} title="The user could not be looked up." />}
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
