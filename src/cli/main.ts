/** The saekit command line: wires one command per file. */
import { Command, CommanderError } from 'commander';
import { analyzeCommand } from './analyze.js';
import { attributeCommand } from './attribute.js';
import { exportCommand, importCommand } from './convert.js';
import { evalCommand } from './eval.js';
import { experimentCommand } from './experiment.js';
import { frontierCommand } from './frontier.js';
import { hubCommand, pushCommand } from './hub.js';
import { infoCommand } from './info.js';
import { extractCommand, generateCommand } from './lm.js';
import { indexCommand, serveCommand } from './viewer.js';
import { quickstartCommand } from './quickstart.js';
import { recipeCommand } from './recipe.js';
import { selfcheckCommand } from './selfcheck.js';
import { stitchCommand } from './stitch.js';
import { sweepCommand } from './sweep.js';
import { trainCommand } from './train.js';

const program = new Command('saekit')
  .description('train, evaluate and analyze sparse autoencoders on language-model activations')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

program.addCommand(quickstartCommand());
program.addCommand(trainCommand());
program.addCommand(evalCommand());
program.addCommand(exportCommand());
program.addCommand(importCommand());
program.addCommand(hubCommand());
program.addCommand(pushCommand());
program.addCommand(infoCommand());
program.addCommand(extractCommand());
program.addCommand(generateCommand());
program.addCommand(indexCommand());
program.addCommand(serveCommand());
program.addCommand(sweepCommand());
program.addCommand(frontierCommand());
program.addCommand(analyzeCommand());
program.addCommand(attributeCommand());
program.addCommand(stitchCommand());
program.addCommand(experimentCommand());
program.addCommand(recipeCommand());
program.addCommand(selfcheckCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // expected failures (bad input) print one line; a stack trace only with SAEKIT_DEBUG=1
  process.stderr.write(`saekit: error: ${(err as Error).message}\n`);
  if (process.env.SAEKIT_DEBUG === '1') console.error(err);
  process.exit(1);
}
