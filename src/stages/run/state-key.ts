/**
 * A named slot of the run state holding values of type `A`. Stages declare the keys they
 * read and write, so a workflow can be checked before it runs.
 */
export interface StateKey<A> {
  readonly name: string
  /** Carries the value type; never read at run time. */
  readonly _value?: (value: A) => A
}

/** Declares a state key. Names are unique within a workflow. */
export const stateKey = <A>(name: string): StateKey<A> => ({ name })
