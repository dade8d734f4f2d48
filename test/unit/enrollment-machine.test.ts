import { describe, expect, it } from 'vitest';
import { EnrollmentMachine, InvalidTransitionError } from '../../workflows/enrollment-machine.js';

describe('EnrollmentMachine', () => {
  it('walks the happy path and numbers each transition', () => {
    const m = new EnrollmentMachine();
    const steps = (['invited', 'portal_authenticated', 'profile_issued', 'authenticated', 'enrolled', 'disenrolling', 'disenrolled'] as const).map((s) => m.moveTo(s));
    expect(steps.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(steps[0]).toEqual({ from: 'created', to: 'invited', seq: 1 });
    expect(m.isFinal).toBe(true);
  });

  it('refuses moves the lifecycle does not allow', () => {
    const m = new EnrollmentMachine();
    expect(() => m.moveTo('enrolled')).toThrow(InvalidTransitionError);
    m.moveTo('invited');
    m.moveTo('expired', 'invite expired');
    expect(m.isFinal).toBe(true);
    expect(() => m.moveTo('invited')).toThrow('an enrollment cannot move from expired to invited');
  });
});
