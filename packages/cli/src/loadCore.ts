/**
 * Loads @transship/core. The commands import its values only through this, inside their
 * actions, so that `transship --help` starts without loading it (the bundle's largest chunk,
 * about 1 MB); its types they import statically, with `import type`, which costs nothing.
 *
 * @return the module.
 */
export function loadCore(): Promise<typeof import('@transship/core')> {
  return import('@transship/core')
}
