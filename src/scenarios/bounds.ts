/** The largest VM and host a scenario may describe (in a module of its own: actors import it without zod). */
export const MAX_VCPUS = 256;
export const MAX_PCPUS = 256;
