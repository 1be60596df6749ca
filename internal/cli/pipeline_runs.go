package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/enclave-mlops/enclave/client"
)

// `enclave pipeline runs …`: the runs of a workspace from a terminal, as
// `zenml pipeline runs …` names them.
func newPipelineRunsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List, show, read the logs of, stop and run again the runs of a workspace"}
	cmd.AddCommand(newRunsListCmd(), newRunsGetCmd(), newRunsLogsCmd(), newRunsStopCmd(), newRunsAgainCmd())
	return cmd
}

// wsCommand is a command of nargs arguments that logs in at a workspace
// (workspaceConn's flags) and then does its work with it.
func wsCommand(use, short, long string, nargs int, do func(cmd *cobra.Command, ws *client.Workspace, args []string) error) *cobra.Command {
	var conn workspaceConn
	cmd := &cobra.Command{Use: use, Short: short, Long: long + "\n\n" + workspaceConnHelp, Args: cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ws, _, err := conn.connect(cmd.Context())
			if err != nil {
				return err
			}
			return do(cmd, ws, args)
		}}
	conn.register(cmd)
	return cmd
}

func newRunsListCmd() *cobra.Command {
	var status, pipeline string
	var page, size int
	var asJSON bool
	cmd := wsCommand("list", "List runs, newest first",
		"List the runs of a workspace, newest first, optionally of one status or pipeline.", 0,
		func(cmd *cobra.Command, ws *client.Workspace, _ []string) error {
			ctx := cmd.Context()
			o := &client.ListOptions{Page: page, Size: size, SortBy: "desc:created", Filters: map[string]string{}}
			if status != "" {
				o.Filters["status"] = status
			}
			if pipeline != "" {
				id, err := pipelineID(ctx, ws, pipeline)
				if err != nil {
					return err
				}
				o.Filters["pipeline_id"] = id
			}
			runs, err := ws.ListRuns(ctx, o)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), runs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tCREATED\tDURATION\tID")
			for _, r := range runs.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Body.Status, r.Body.Created.Format(time.DateTime), took(r.Body.StartTime, r.Body.EndTime), r.ID)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "page %d of %d, %d runs\n", max(runs.Index, 1), max(runs.TotalPages, 1), runs.Total)
			return nil
		})
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only runs of this status ("+strings.Join(client.Statuses, ", ")+")")
	f.StringVar(&pipeline, "pipeline", "", "only runs of this pipeline (name or id)")
	f.IntVar(&page, "page", 1, "page, from 1")
	f.IntVar(&size, "size", 20, "runs per page")
	f.BoolVar(&asJSON, "json", false, "print the page as the API answers it, in JSON")
	return cmd
}

func newRunsGetCmd() *cobra.Command {
	var asJSON bool
	cmd := wsCommand("get RUN_ID", "Show a run and its steps", "Show a run and its steps.", 1,
		func(cmd *cobra.Command, ws *client.Workspace, args []string) error {
			ctx := cmd.Context()
			run, err := ws.GetRun(ctx, args[0], true)
			if err != nil {
				return err
			}
			steps, err := ws.ListRunSteps(ctx, run.ID, &client.ListOptions{Size: 1000, SortBy: "asc:created"})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, map[string]any{"run": run, "steps": steps.Items})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "Run:\t%s\nID:\t%s\nStatus:\t%s\nCreated:\t%s\nDuration:\t%s\n",
				run.Name, run.ID, run.Body.Status, run.Body.Created.Format(time.DateTime), took(run.Body.StartTime, run.Body.EndTime))
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(out)
			if len(steps.Items) == 0 {
				fmt.Fprintln(out, "No steps yet.")
				return nil
			}
			tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STEP\tSTATUS\tDURATION\tID")
			for _, st := range steps.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Name, st.Body.Status, took(st.Body.StartTime, st.Body.EndTime), st.ID)
			}
			return tw.Flush()
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run": …, "steps": […]} as the API answers them, in JSON`)
	return cmd
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func newRunsLogsCmd() *cobra.Command {
	var step string
	var follow bool
	var every time.Duration
	cmd := wsCommand("logs RUN_ID", "Print the log of a run, or of one of its steps",
		"Print the log of a run, or with --step that of one of its steps; with --follow, keep\nprinting what is added until the run ends.", 1,
		func(cmd *cobra.Command, ws *client.Workspace, args []string) error {
			ctx := cmd.Context()
			run, err := ws.GetRun(ctx, args[0], false)
			if err != nil {
				return err
			}
			// read returns the whole log so far ("" while there is none).
			read := func() (string, error) {
				if step == "" {
					logs, err := ws.RunLogs(ctx, run.ID)
					if client.StatusOf(err) == http.StatusNotFound {
						return "", nil // the runner wrote nothing under the run itself (yet)
					}
					return logs, err
				}
				steps, err := ws.ListRunSteps(ctx, run.ID, &client.ListOptions{Filters: map[string]string{"name": step}})
				switch {
				case err != nil:
					return "", err
				case len(steps.Items) == 0 && !(follow && run.Body.InProgress):
					return "", fmt.Errorf("run %s has no step %s", run.ID, step)
				case len(steps.Items) == 0:
					return "", nil // not started yet
				}
				logs, err := ws.StepLogs(ctx, steps.Items[0].ID)
				if client.StatusOf(err) == http.StatusNotFound {
					return "", nil
				}
				return logs, err
			}
			printed := 0
			for {
				logs, err := read()
				if err != nil {
					return err
				}
				if len(logs) > printed {
					if _, err := io.WriteString(cmd.OutOrStdout(), logs[printed:]); err != nil {
						return err
					}
					printed = len(logs)
				}
				if !follow || !run.Body.InProgress {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(every):
				}
				// One more read after the run ends: what it wrote last.
				if run, err = ws.GetRun(ctx, run.ID, false); err != nil {
					return err
				}
			}
		})
	cmd.Flags().StringVar(&step, "step", "", "the step whose log to print")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what is added until the run ends")
	cmd.Flags().DurationVar(&every, "every", time.Second, "with --follow, how often to look")
	return cmd
}

func newRunsStopCmd() *cobra.Command {
	var graceful bool
	cmd := wsCommand("stop RUN_ID", "Stop a run in progress",
		`Stop a run in progress: at once (the run and its steps in progress end as stopped,
and its runner Job, if the workload manager started one, is deleted), or with
--graceful once its runner has finished the step it is running.`, 1,
		func(cmd *cobra.Command, ws *client.Workspace, args []string) error {
			if err := ws.StopRun(cmd.Context(), args[0], graceful); err != nil {
				return err
			}
			if graceful {
				fmt.Fprintf(cmd.OutOrStdout(), "run %s is stopping: it starts no further step\n", args[0])
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "run %s stopped\n", args[0])
			}
			return nil
		})
	cmd.Flags().BoolVar(&graceful, "graceful", false, "let the step that is running finish")
	return cmd
}

func newRunsAgainCmd() *cobra.Command {
	return wsCommand("again RUN_ID", "Run a run's snapshot again, on the workspace's cluster",
		`Run the snapshot of a run once more, as the dashboard's "Run again" does: the
workspace's workload manager starts a runner Job for a new run, whose id is printed.`, 1,
		func(cmd *cobra.Command, ws *client.Workspace, args []string) error {
			next, err := ws.RunAgain(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s (%s) started from the snapshot of run %s\n", next.Name, next.ID, args[0])
			return nil
		})
}

// pipelineID finds the pipeline named ref (or whose id it is).
func pipelineID(ctx context.Context, ws *client.Workspace, ref string) (string, error) {
	ps, err := ws.ListPipelines(ctx, &client.ListOptions{Size: 2, Filters: map[string]string{"name": ref}})
	if err != nil {
		return "", err
	}
	switch len(ps.Items) {
	case 1:
		return ps.Items[0].ID, nil
	case 0:
		if p, err := ws.GetPipeline(ctx, ref, false); err == nil {
			return p.ID, nil
		}
		return "", fmt.Errorf("pipeline %s: no pipeline of that name or id", ref)
	}
	return "", fmt.Errorf("pipeline %s: more than one pipeline of that name (in different projects): give its id", ref)
}

// took is how long something ran, or "-" before it starts.
func took(start, end *client.Time) string {
	if d, ok := client.Ran(start, end); ok {
		return d.String()
	}
	return "-"
}
